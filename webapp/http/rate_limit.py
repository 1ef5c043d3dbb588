"""Rate limits' building blocks: AttemptLimiter counts failures, TokenBuckets counts every request.

Slowing down whoever keeps failing to sign in: per client, and per person tried.

Each attempt counts when it starts (so many sent at once are all counted) and is given back when it
succeeds (a person who signs in is not slowed by it); each key may fail `limit` times within `window`
seconds, after which it waits until its oldest failure leaves the window. Memory only: a
restart forgets, which is no worse than the window itself. The keys held are bounded (the oldest are
dropped), so a flood of new clients cannot grow the server's memory without end.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Optional


class AttemptLimiter:
    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> Optional[float]:
        """Seconds until key may try again, or None when it may try now."""
        with self._lock:
            failures = self._recent(key)
            if failures is None or len(failures) < self.limit:
                return None
            return max(0.0, failures[0] + self.window - self._clock())

    def failed(self, key: str) -> None:
        with self._lock:
            failures = self._recent(key)
            if failures is None:
                failures = self._failures[key] = deque(maxlen=self.limit)
                while len(self._failures) > self._max_keys:
                    self._failures.popitem(last=False)
            failures.append(self._clock())
            self._failures.move_to_end(key)

    def forgive(self, key: str) -> None:
        """Take back the newest count of key (its attempt succeeded)."""
        with self._lock:
            failures = self._failures.get(key)
            if failures:
                failures.pop()

    def _recent(self, key: str) -> Optional[deque]:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= self._clock() - self.window:
            failures.popleft()
        return failures


class TokenBuckets:
    """Buckets of `capacity` tokens refilled at `per_second`, one per key, at most max_keys of them."""

    def __init__(self, per_second: float, capacity: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for one request")
        self.per_second = per_second
        self.capacity = capacity
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def level(self, key: str, now: float) -> float:
        tokens, when = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - when) * self.per_second)

    def wait(self, key: str, now: float) -> float:
        """Seconds until key's bucket holds one token (0 when it does now)."""
        return max(0.0, (1.0 - self.level(key, now)) / self.per_second)

    def take(self, key: str, now: float) -> None:
        self._buckets[key] = (self.level(key, now) - 1.0, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # a dropped client comes back with a full bucket: no worse than new
