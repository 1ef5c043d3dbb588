"""What every sink shares: a bounded queue that offer() fills without ever waiting, a named thread that
empties it, and counts of what was sent and what was dropped (a full queue, or delivery given up)."""
from __future__ import annotations

import logging
import queue
import threading
from typing import Optional

from services.events import Message

log = logging.getLogger(__name__)


class QueuedSink:
    """Subclasses deliver one message (True when it got there); the thread calls deliver in order.

    capacity: messages held while the other end is slow or away; beyond, new ones are dropped (and
    counted): recognition is never slowed by a sink, and memory stays bounded."""

    def __init__(self, name: str, *, capacity: int = 1000) -> None:
        self.name = name
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sink-{name}", daemon=True)
        self.sent = 0
        self.dropped = 0
        self._count_lock = threading.Lock()

    def offer(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._drop(1)

    def counts(self) -> dict:
        return {"sent": self.sent, "dropped": self.dropped, "queued": self._queue.qsize(),
                "connected": self.connected}

    @property
    def connected(self) -> bool:
        return True

    def start(self) -> "QueuedSink":
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def deliver(self, message: Message) -> bool:  # pragma: no cover - every sink has its own
        raise NotImplementedError

    def _drop(self, count: int) -> None:
        with self._count_lock:
            self.dropped += count

    def _run(self) -> None:
        while not self._stop.is_set():
            message: Optional[Message]
            try:
                message = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                delivered = self.deliver(message)
            except Exception:  # a sink's failure must never end it: the next message is tried
                log.exception("%s: a message was not delivered", self.name)
                delivered = False
            if delivered:
                with self._count_lock:
                    self.sent += 1
            else:
                self._drop(1)
