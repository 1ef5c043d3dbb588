"""The page and the live MJPEG stream."""
from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, render_template

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
    slots = current_app.extensions[VIEWERS]
    if not slots.acquire(blocking=False):
        raise ApiError(503, "too many viewers are watching the stream; try again later")
    feed: JpegFeed = current_app.extensions[FEED]
    stopping = services().stopping

    def parts():
        try:
            seq = 0
            while not stopping.is_set():
                seq, jpeg = feed.next_jpeg(seq)
                yield multipart_part(jpeg)
        finally:
            slots.release()

    return Response(
        parts(),
        mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
