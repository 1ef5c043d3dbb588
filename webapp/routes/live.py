"""The live cameras: the page, each camera's MJPEG stream, and /hash (who is on a camera now). Without a
camera's name, /streaming and /hash answer for the first camera, as they did when a server had one."""
from __future__ import annotations

import time
from typing import Optional

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from recognition.live.filters import FILTERS
from services.stream_feed import JpegFeed
from webapp.current import EXTENSION, parts
from webapp.http.auth import guarding
from webapp.http.errors import ApiError
from webapp.http.stream_slots import CHECK_EVERY, StreamSlots, stream_permit

bp = Blueprint("live", __name__)
VIEWERS = "faceapp.viewer_slots"
BOUNDARY = "frame"


def init_stream(app) -> None:
    built = app.extensions[EXTENSION]
    # Each viewer holds a server thread for as long as it watches; capping viewers keeps threads
    # free for /hash and the API.
    app.extensions[VIEWERS] = StreamSlots(built.max_viewers)


@bp.get("/")
def index():
    return render_template("index.html", model=parts().analyzer.model_name, cameras=parts().cameras.names)


@bp.get("/hash")
@bp.get("/hash/<camera>")
def current_hash(camera: Optional[str] = None):
    """Who is on a camera now: the largest known face, every face, and how the camera and model fare."""
    watched = parts().camera(camera)  # looked up once: cameras may come and go meanwhile
    live = watched.view
    now = live.now()
    result, best = now.result, now.best
    return jsonify({
        "hash": best.identity_hash if best else None,
        "name": best.name if best else None,
        "faces": [face.to_json() for face in now.faces],  # from this one result, so frame numbers and faces agree
        "frame": result.frame_seq if result else None,
        "source_frame": result.source_index if result else None,
        "captured_at": result.captured_at if result else None,
        "analysed_at": result.analysed_at if result else None,
        "analysed": result.number if result else 0,
        "camera": watched.name,
        "status": {**live.status(now), "api_key_required": guarding()},
    })


@bp.get("/streaming")
@bp.get("/streaming/<camera>")
def streaming(camera: Optional[str] = None):
    watched = parts().camera(camera)  # an unknown camera: 404 before a viewer slot is taken
    feed: JpegFeed = watched.feed
    variant = request.args.get("filter") or None
    if variant is not None and variant not in FILTERS:
        raise ApiError(400, f"'filter' is one of {', '.join(FILTERS)}, not {variant!r}")
    if variant is not None and feed.filters == "none":
        raise ApiError(400, "filters are off on this server (--filters none)")
    mimetype = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":  # a probe (curl -I, an uptime check): headers only, no viewer slot
        return Response(b"", mimetype=mimetype, headers=headers)
    slots: StreamSlots = current_app.extensions[VIEWERS]
    permit = stream_permit()
    if not slots.take(permit.owner):
        raise ApiError(503, "too many viewers are watching the stream (or this key holds its share); try again later")
    stopping = parts().stopping

    def multipart():
        seq, checked = 0, time.monotonic()
        while not stopping.is_set() and not watched.removed.is_set():
            if time.monotonic() - checked >= CHECK_EVERY:  # a key revoked meanwhile ends its streams
                if not permit.allowed():
                    return
                checked = time.monotonic()
            seq, jpeg = feed.next_jpeg(seq, variant)
            yield multipart_part(jpeg)

    response = Response(multipart(), mimetype=mimetype, headers=headers)
    # Given back when the server closes the response, whether or not the body was ever iterated
    # (a generator's own finally would not run if it never started).
    response.call_on_close(slots.releaser(permit.owner))
    return response


def multipart_part(jpeg: bytes) -> bytes:
    header = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return header + jpeg + b"\r\n"


def wait_for_viewers_to_leave(app, timeout: float) -> bool:
    """After the parts' stopping is set: wait (at most timeout) until every stream has ended."""
    return app.extensions[VIEWERS].wait_idle(timeout)
