"""Who may hold a stream (the MJPEG streams and GET /events) and for how long.

Each stream holds a server thread for as long as it lasts, so streams share --max-viewers slots, and a
stored key may hold half of them at most: one application cannot take every slot. A stream is let in
once, but it lasts: its loop asks its permit again about once a second, and ends when the key that opened
it (in X-API-Key, or through the viewer cookie it bought) has been revoked or has lost the scope.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from flask import request

from webapp.current import parts
from webapp.http.auth import VIEWER_COOKIE, current_caller, guarding


@dataclass(frozen=True)
class StreamPermit:
    """owner: the stored key whose share of the slots the stream counts against (None: the --api-key, or
    a server without keys: no share)."""

    owner: Optional[str]
    allowed: Callable[[], bool]


def stream_permit(scope: str = "read") -> StreamPermit:
    """Made inside the request, after the guard let it in."""
    if not guarding():
        return StreamPermit(None, lambda: True)
    caller = current_caller()
    if caller is not None and caller.record is None:  # the --api-key: changing it needs a restart
        return StreamPermit(None, lambda: True)
    if caller is not None and caller.record is not None:
        key_id = caller.record.id
    else:  # let in by a viewer cookie: `expires.id.mac` names the stored key that bought it
        fields = request.cookies.get(VIEWER_COOKIE, "").split(".")
        if len(fields) != 3:
            return StreamPermit(None, lambda: True)  # bought with the --api-key
        key_id = fields[1]
    keyring = parts().keyring

    def allowed() -> bool:
        record = keyring.get(key_id) if keyring is not None else None
        return record is not None and record.active and record.allows(scope)

    return StreamPermit(key_id, allowed)


class StreamSlots:
    """total: streams at once (--max-viewers); a stored key holds at most half of them (at least one)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.per_key = max(1, (total + 1) // 2)
        self._lock = threading.Lock()
        self._taken = 0
        self._by_key: dict[str, int] = {}

    def take(self, owner: Optional[str]) -> bool:
        with self._lock:
            if self._taken >= self.total or (owner is not None and self._by_key.get(owner, 0) >= self.per_key):
                return False
            self._taken += 1
            if owner is not None:
                self._by_key[owner] = self._by_key.get(owner, 0) + 1
            return True

    def give_back(self, owner: Optional[str]) -> None:
        with self._lock:
            self._taken -= 1
            if owner is not None:
                left = self._by_key.pop(owner, 1) - 1
                if left:
                    self._by_key[owner] = left

    def releaser(self, owner: Optional[str]) -> Callable[[], None]:
        """give_back, once however often it is called (a response's close, and a generator's end)."""
        done = threading.Lock()

        def release() -> None:
            if done.acquire(blocking=False):
                self.give_back(owner)

        return release

    def wait_idle(self, timeout: float) -> bool:
        """Wait (at most timeout) until every stream has ended."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._taken == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


CHECK_EVERY = 1.0  # seconds between a stream's looks at its permit
