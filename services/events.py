"""The events of every camera, for whoever listens: a ring kept in memory for GET /events (resumable with
Last-Event-ID), and sinks (MQTT, webhooks) that each take them from a bounded queue of their own.

Publishing never waits for a listener: a sink whose queue is full loses the message and counts it, and
a stream client that falls further behind than the ring is dropped (services/sinks/, webapp/routes/events.py).
Nothing here is written to disk.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Protocol, Sequence, Union

from recognition.live.events import CameraState, FaceEvent


@dataclass(frozen=True)
class CameraGone:
    """A camera was removed: its retained state and its Home Assistant sensor go with it."""

    camera: str


Message = Union[FaceEvent, CameraState, CameraGone]


class Sink(Protocol):
    """Where events go beyond this server (MQTT, a webhook). offer must never block."""

    name: str  # its label in /metrics: "mqtt", "webhook:host:port"; never a credential

    def offer(self, message: Message) -> None: ...

    def counts(self) -> dict: ...  # {"sent": n, "dropped": n, "queued": n, "connected": bool}

    def start(self) -> object: ...

    def stop(self, timeout: float = 3.0) -> None: ...


@dataclass(frozen=True)
class Batch:
    """What a stream client gets next: events after the one it last saw, and whether some were lost
    between (it fell behind the ring, or it resumes from another run of the server)."""

    events: tuple[FaceEvent, ...]
    lost: bool
    last_id: str


class EventBus:
    """keep: events kept for clients that reconnect; a client further behind than that is told it lost some."""

    def __init__(self, sinks: Sequence[Sink] = (), *, keep: int = 1000) -> None:
        self.sinks = tuple(sinks)
        self._run = secrets.token_hex(3)  # ids of another run of the server are told apart from this one's
        self._ring: deque = deque(maxlen=keep)  # (number, event)
        self._next = 1
        self._changed = threading.Condition()
        self.published = 0

    def publish(self, event: FaceEvent) -> FaceEvent:
        with self._changed:
            number = self._next
            self._next += 1
            event = replace(event, id=f"{self._run}-{number}")
            self._ring.append((number, event))
            self.published += 1
            self._changed.notify_all()
        for sink in self.sinks:
            sink.offer(event)
        return event

    def set_state(self, state: CameraState) -> None:
        """Who is on a camera now, for the sinks that keep it (MQTT's retained state)."""
        for sink in self.sinks:
            sink.offer(state)

    def camera_gone(self, camera: str) -> None:
        for sink in self.sinks:
            sink.offer(CameraGone(camera))

    @property
    def latest_id(self) -> str:
        """The id a client starting now resumes after: it gets the events published from now on."""
        with self._changed:
            return f"{self._run}-{self._next - 1}"

    def after(self, last_id: str, timeout: float) -> Batch:
        """Events published after last_id, waiting at most timeout for one. An id of another run (or
        unreadable) gets every event kept, marked lost."""
        run, _, number_text = last_id.partition("-")
        known = run == self._run and number_text.isdigit() and len(number_text) <= 18
        after = int(number_text) if known else 0
        deadline = time.monotonic() + timeout
        with self._changed:
            if after >= self._next:  # not an id this run gave: everything kept, marked lost
                known, after = False, 0
            while self._next - 1 <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Batch((), False, last_id)
                self._changed.wait(remaining)
            first = self._ring[0][0] if self._ring else self._next
            events = tuple(event for number, event in self._ring if number > after)
            lost = (not known) or first > after + 1
            return Batch(events, lost, events[-1].id if events else last_id)

    def start(self) -> "EventBus":
        for sink in self.sinks:
            sink.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        for sink in self.sinks:
            sink.stop(timeout)
