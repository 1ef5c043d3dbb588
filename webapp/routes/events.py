"""GET /events: the cameras' events as Server-Sent Events, resumable with Last-Event-ID.

Each stream client holds a server thread, so clients share the stream viewers' slots (--max-viewers).
A client that falls further behind than the events kept in memory is dropped; when it comes back with
its Last-Event-ID it is told, with a `lost` event, that some events are gone, then gets those kept.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from flask import Blueprint, Response, current_app, request

from recognition.live.events import KINDS
from webapp.current import parts
from webapp.http.errors import ApiError
from webapp.http.stream_slots import CHECK_EVERY, StreamSlots, stream_permit
from webapp.routes.live import VIEWERS

bp = Blueprint("events", __name__)

KEEP_ALIVE = 15.0  # seconds of silence before a comment line, so proxies and clients know the stream lives
RETRY_MS = 3000  # how soon a disconnected EventSource reconnects
LONGEST_ID = 64
LIFETIME = 600.0  # seconds a stream lasts before the client is asked to reconnect (its key is checked anew)


@bp.get("/events")
def events():
    """?camera=NAME: one camera's events; ?types=named,left: some kinds only."""
    watched = request.args.get("camera")
    if watched is not None:
        parts().camera(watched)  # 404 for a camera that is not watched
    kinds = _kinds(request.args.get("types"))
    bus = parts().events
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if last_id is not None and (len(last_id) > LONGEST_ID or not last_id.isascii()):
        raise ApiError(400, f"Last-Event-ID must be an event id this server gave (at most {LONGEST_ID} characters)")
    slots: StreamSlots = current_app.extensions[VIEWERS]
    permit = stream_permit()
    if not slots.take(permit.owner):
        raise ApiError(503, "too many clients are watching streams and events (or this key holds its share); "
                            "try again later")
    stopping = parts().stopping

    def stream():
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        after, resuming = last_id or bus.latest_id, last_id is not None
        started = quiet_since = time.monotonic()
        # A key revoked meanwhile ends the stream; so does its lifetime (the client resumes from its last id).
        while not stopping.is_set() and permit.allowed() and time.monotonic() - started < LIFETIME:
            batch = bus.after(after, timeout=CHECK_EVERY)
            if batch.lost:
                if not resuming:  # fell behind while connected: dropped, never waited for
                    yield _message("lost", {"reason": "this client fell behind; reconnect to resume"}, None)
                    return
                yield _message("lost", {"reason": "some events since the given Last-Event-ID are gone"}, None)
            resuming = False
            after = batch.last_id
            chunk = "".join(_message(event.kind, event.to_json(), event.id) for event in batch.events
                            if (watched is None or event.camera == watched) and event.kind in kinds)
            if chunk:
                quiet_since = time.monotonic()
                yield chunk
            elif time.monotonic() - quiet_since >= KEEP_ALIVE:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"

    response = Response(stream(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(slots.releaser(permit.owner))
    return response


def _kinds(raw: Optional[str]) -> frozenset:
    if raw is None or not raw.strip():
        return frozenset(KINDS)
    asked = {kind.strip() for kind in raw.split(",") if kind.strip()}
    unknown = sorted(asked - set(KINDS))
    if unknown:
        raise ApiError(400, f"types may list {', '.join(KINDS)}; not {', '.join(kind[:20] for kind in unknown[:3])}")
    return frozenset(asked)


def _message(kind: str, data: dict, event_id: Optional[str]) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
