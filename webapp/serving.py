"""How waitress serves the app: thread count, and buffers that never spill to disk.

waitress moves request bodies over inbuf_overflow and pending output over outbuf_overflow into
temporary files. Uploads are face photos and the stream is faces, so both limits sit above the
largest body we accept and the output high-water mark: nothing of a face is ever written to disk.
"""
from __future__ import annotations

STREAM_HIGH_WATERMARK = 2 * 1024 * 1024  # a slow viewer skips frames beyond this instead of queueing them
BODY_HEADROOM = 1024 * 1024  # multipart framing around an upload of the maximum size


def waitress_options(*, max_upload: int, max_viewers: int) -> dict:
    body_limit = max_upload + BODY_HEADROOM
    return {
        "threads": max_viewers + 8,  # one per stream viewer plus headroom, so /hash stays quick
        "outbuf_high_watermark": STREAM_HIGH_WATERMARK,
        "outbuf_overflow": 2 * STREAM_HIGH_WATERMARK,
        "inbuf_overflow": body_limit + 1,
        "max_request_body_size": body_limit,
        "ident": "faceapp",
    }
