"""Reading a Server-Sent Events response the way an EventSource does: `id:`, `event:` and `data:` lines
up to a blank line make one event; comment lines (`:`) are skipped."""
from __future__ import annotations

import json
import time


def read_sse(response, count: int, timeout: float = 10.0) -> list[dict]:
    """The first count events of an SSE response, each {'id', 'event', 'data'}."""
    found: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if line == "":
            if "event" in current:
                found.append(current)
                if len(found) == count:
                    break
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return found
