"""The page and the live MJPEG stream."""
from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, current_app, render_template, request

from webapp.errors import ApiError
from webapp.mjpeg import BOUNDARY, JpegFeed, multipart_part
from webapp.services import services

bp = Blueprint("stream", __name__)
FEED = "faceapp.jpeg_feed"
VIEWERS = "faceapp.viewer_slots"


def init_stream(app) -> None:
    svc = app.extensions["faceapp"]
    app.extensions[FEED] = JpegFeed(svc)
    # Each viewer holds a server thread for as long as it watches; capping viewers keeps threads
    # free for /hash and the API.
    app.extensions[VIEWERS] = threading.BoundedSemaphore(svc.max_viewers)


@bp.get("/")
def index():
    svc = services()
    return render_template("index.html", model=svc.analyzer.model_name, has_camera=svc.frames is not None)


@bp.get("/streaming")
def streaming():
    mimetype = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.method == "HEAD":  # a probe (curl -I, an uptime check): headers only, no viewer slot
        return Response(b"", mimetype=mimetype, headers=headers)
    slots = current_app.extensions[VIEWERS]
    if not slots.acquire(blocking=False):
        raise ApiError(503, "too many viewers are watching the stream; try again later")
    feed: JpegFeed = current_app.extensions[FEED]
    stopping = services().stopping

    def parts():
        seq = 0
        while not stopping.is_set():
            seq, jpeg = feed.next_jpeg(seq)
            yield multipart_part(jpeg)

    response = Response(parts(), mimetype=mimetype, headers=headers)
    # Given back when the server closes the response, whether or not the body was ever iterated
    # (a generator's own finally would not run if it never started).
    response.call_on_close(_once(slots.release))
    return response


def _once(action):
    done = threading.Lock()

    def run():
        if done.acquire(blocking=False):
            action()

    return run


def wait_for_viewers_to_leave(app, timeout: float) -> bool:
    """After services.stopping is set: wait (at most timeout) until every stream has ended."""
    slots, count = app.extensions[VIEWERS], app.extensions["faceapp"].max_viewers
    deadline = time.monotonic() + timeout
    while True:
        taken = 0
        while taken < count and slots.acquire(blocking=False):
            taken += 1
        for _ in range(taken):
            slots.release()
        if taken == count or time.monotonic() >= deadline:
            return taken == count
        time.sleep(0.05)
