"""One budget of cores for recognition across every camera, and the order in which cameras get them.

Each camera's worker asks for a turn before it analyses a frame and gives it back after. At most
`cores` analyses run at once; when more cameras wait, the most urgent goes first: a camera where
someone just arrived (movement where nobody is followed yet, or a face never embedded), then one with
an undecided face, then one with people to re-check, then one whose empty scene is due a full search.
Waiting makes a camera more urgent (a level every `promote_after` seconds), and the core time it used
lately less (a level for every `promote_after` seconds of it, fading over `memory` seconds): a crowd
whose every frame costs half a second and always has newcomers cannot keep a door waiting, and a
door's newcomer, a few milliseconds of work, goes before the crowd's next frame. An empty, still scene
asks for no turn at all: it costs a motion check (QUIET). The streams never ask: they run beside
recognition at a higher priority (priority.py), so a short machine analyses fewer frames a second on
every camera, and every stream keeps its rate.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, Optional

# What a camera's next frame is for, most urgent first; QUIET needs no turn.
ARRIVAL, NEWCOMER, RECHECK, IDLE, QUIET = 0, 1, 2, 3, 4
URGENCIES = {ARRIVAL: "arrival", NEWCOMER: "newcomer", RECHECK: "recheck", IDLE: "idle", QUIET: "quiet"}
REVISIT = 0.02  # seconds: how soon a camera looks again when a core is free but another stands first


class RecognitionBudget:
    def __init__(self, cores: int, *, promote_after: float = 0.25, memory: float = 2.0) -> None:
        if cores < 1:
            raise ValueError("recognition needs at least one core")
        self.cores = cores
        self._promote_after = promote_after
        self._memory = memory
        self._used: dict[str, tuple[float, float]] = {}  # camera -> (core seconds used lately, as of when)
        self._lock = threading.Condition()
        self._running = 0
        self._waiting: list[tuple[int, float, int, str]] = []  # (urgency, asked at, ticket, camera) of each waiting
        self._tickets = itertools.count()
        self.granted: Counter = Counter()  # turns given so far, by urgency name: what the scheduler did

    @contextmanager
    def turn(self, urgency: int, *, camera: str = "", since: Optional[float] = None,
             timeout: Optional[float] = None) -> Iterator[bool]:
        """Waits for a core (at most timeout seconds; None: as long as it takes) and holds it for the
        with-block; yields False, holding nothing, when the wait timed out. since: when this camera
        first asked (time.monotonic()), so a wait that timed out and asks again keeps its seniority."""
        granted = self._acquire(urgency, camera, time.monotonic() if since is None else since, timeout)
        started = time.monotonic()
        try:
            yield granted
        finally:
            if granted:
                self._release(camera, time.monotonic() - started)

    def _used_lately(self, camera: str, now: float) -> float:
        used, at = self._used.get(camera, (0.0, now))
        return used * math.exp(-(now - at) / self._memory)

    def _next(self) -> tuple[int, float, int, str]:
        """The waiting camera to go next: the most urgent, counting a level for every promote_after
        seconds waited and one less for every promote_after seconds of core it used lately; the longest
        waiting of equals."""
        now = time.monotonic()

        def standing(ticket: tuple[int, float, int, str]) -> tuple[float, float, int]:
            urgency, asked_at, number, camera = ticket
            return urgency + (self._used_lately(camera, now) - (now - asked_at)) / self._promote_after, asked_at, number

        return min(self._waiting, key=standing)

    def _acquire(self, urgency: int, camera: str, asked_at: float, timeout: Optional[float]) -> bool:
        ticket = (urgency, asked_at, next(self._tickets), camera)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._waiting.append(ticket)
            try:
                while self._running >= self.cores or self._next() != ticket:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    if self._running < self.cores:
                        # A core is free but another camera stands first: standings move with time (usage
                        # fades), so look again soon rather than wait for a release that may not come.
                        left = REVISIT if left is None else min(left, REVISIT)
                    self._lock.wait(left)
                self._running += 1
                self.granted[URGENCIES.get(urgency, str(urgency))] += 1
                return True
            finally:
                self._waiting.remove(ticket)
                self._lock.notify_all()  # the next in line may be someone else now

    def _release(self, camera: str, held: float) -> None:
        with self._lock:
            self._running -= 1
            now = time.monotonic()
            self._used[camera] = (self._used_lately(camera, now) + held, now)
            # Cameras come and go by name at run time: usage faded to nothing is forgotten.
            for name in [name for name in self._used if self._used_lately(name, now) < 1e-3]:
                del self._used[name]
            self._lock.notify_all()

    def status(self) -> dict:
        with self._lock:
            return {"cores": self.cores, "running": self._running, "waiting": len(self._waiting),
                    "turns": dict(self.granted)}
