"""A clock that moves only when the test says so: behaviour that depends on time, tested without sleeping."""
from __future__ import annotations

import time


class ManualClock:
    """Callable like time.time (or time.monotonic); starts at the real time, so anything that compares it with
    the real clock (a cookie's Expires in a test client) sees a sensible value."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
