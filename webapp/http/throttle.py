"""Rate limits on the routes that run the face model: per client (address) and per API key.

A token bucket per client and one per key: each request to a model route takes one token from each
bucket that applies, and is refused with 429 and Retry-After when any of them is empty; buckets refill
steadily. Unlike the sign-in gate (face_gate.py), which counts failures, this counts every request: the
cost being bounded is the model's time, and a 1:N identification that succeeds is as much of a lookup
as one that fails. Memory only, and bounded: the least recently seen buckets are dropped first.

And how many requests run the model at once in the whole process (ModelSlots): each may take up to
64 MB beyond its upload while it decodes and analyses, and the buckets let a client send a burst of 30,
which filled every server thread (12 requests with a 4K frame at once raised the peak by 445 MB, one
alone by 49). More at once than there are cores is no faster anyway, so the others wait for a slot,
a while, then get 503 with Retry-After.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from typing import Callable, Optional, Sequence

from webapp.current import parts
from webapp.http.auth import given_key
from webapp.http.errors import ApiError
from webapp.http.face_gate import FaceGate
from webapp.http.rate_limit import TokenBuckets

log = logging.getLogger(__name__)

DEFAULT_PER_MINUTE = 120.0  # per client; the sign-in page's framing hints alone send 75 a minute
KEY_FACTOR = 4  # a key, across every client that uses it, gets this many times a client's share
BURST_MINUTES = 0.25  # a full bucket holds a quarter minute's worth: a page's burst of searches passes
SLOT_WAIT = 10.0  # seconds a model request waits for a slot before 503
SLOT_RETRY_AFTER = 2  # seconds a refused request is told to wait: about one request's time


def default_slots() -> int:
    """The number of cores, at least 2 (so one long request, a video or a zip, does not stop the rest)."""
    return max(2, os.cpu_count() or 2)


class ModelSlots:
    """At most `slots` requests run the model at once; a request waits up to `wait` seconds for a
    slot, and at most `slots` of them wait (each waiting request holds one of the server's threads,
    which the stream and /hash need too); the rest are refused at once.

    slots: more lets more requests run together, each adding its memory (up to 64 MB beyond its
    upload) to the server's peak, and is no faster beyond the number of cores; fewer makes requests
    queue, and one long request (a video, a zip) holds a slot throughout. wait: longer lets a queue
    ride out a busy moment, shorter frees the threads sooner."""

    def __init__(self, slots: int, *, wait: float = SLOT_WAIT) -> None:
        if slots < 1:
            raise ValueError("at least one request must be able to run the model")
        self.slots, self.wait = slots, wait
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0

    def acquire(self) -> bool:
        """Take a slot (waiting up to `wait` seconds); False when none came free or the queue is full."""
        if self._free.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self.slots:
                return False
            self._waiting += 1
        try:
            return self._free.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self) -> None:
        self._free.release()


class ModelThrottle:
    """The model routes' limits. per_minute: requests a client (an address; an IPv6 client by its /64)
    may send steadily; a key gets KEY_FACTOR times that across its clients. Higher serves busier
    applications, lower bounds what one client (or one leaked key) can make the server compute and
    look up; 0 (or None) turns the rate limits off. slots: how many requests run the model at once
    in this process (ModelSlots; default_slots() when None), whatever the rate limits."""

    def __init__(self, per_minute: Optional[float] = DEFAULT_PER_MINUTE, *, slots: Optional[int] = None,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute or 0.0
        self.slots = ModelSlots(slots or default_slots())
        self._clock = clock
        self._lock = threading.Lock()
        if self.per_minute > 0:
            per_second = self.per_minute / 60.0
            capacity = max(1.0, self.per_minute * BURST_MINUTES)
            self._clients = TokenBuckets(per_second, capacity, max_keys=max_keys, clock=clock)
            self._keys = TokenBuckets(per_second * KEY_FACTOR, capacity * KEY_FACTOR, max_keys=1000, clock=clock)

    @property
    def active(self) -> bool:
        return self.per_minute > 0

    def admit(self, client: str, key: Optional[str]) -> Optional[float]:
        """Take a token for this request from the client's bucket and the key's (if it came with one);
        or, when either is empty, take none and return the seconds to wait."""
        if not self.active:
            return None
        buckets: Sequence[tuple[TokenBuckets, str]] = [(self._clients, client)]
        if key:  # by a digest: the key itself is never held here
            buckets = [*buckets, (self._keys, hashlib.sha256(key.encode()).hexdigest()[:32])]
        with self._lock:
            now = self._clock()
            wait = max(limiter.wait(name, now) for limiter, name in buckets)
            if wait > 0:
                return wait
            for limiter, name in buckets:
                limiter.take(name, now)
        return None


def runs_the_model(view):
    """Count the request against the model's limits before the view runs: 429 with Retry-After when
    this client, or the API key it came with, sent too many lately; then run the view in one of the
    process's model slots: 503 with Retry-After when none comes free in time. The view decodes the
    upload in its slot, so what requests decode at once is bounded too."""
    @functools.wraps(view)
    def limited(*args, **kwargs):
        throttle = parts().throttle
        wait = throttle.admit(FaceGate.client_key(), given_key())
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            log.info("model request refused for %s s (rate limit)", seconds)
            raise ApiError(429, f"too many requests to the face model from this client or key: try again in "
                                f"{seconds} s", headers={"Retry-After": str(seconds)}, retry_after=seconds)
        if not throttle.slots.acquire():
            log.info("model request refused: all %d model slots busy", throttle.slots.slots)
            raise ApiError(503, f"the server is busy with {throttle.slots.slots} requests to the face model: try "
                                f"again in {SLOT_RETRY_AFTER} s", headers={"Retry-After": str(SLOT_RETRY_AFTER)},
                           retry_after=SLOT_RETRY_AFTER)
        try:
            return view(*args, **kwargs)
        finally:
            throttle.slots.release()

    setattr(limited, "runs_the_model", True)  # read by /openapi.json's check and the tests: which routes are limited
    return limited
