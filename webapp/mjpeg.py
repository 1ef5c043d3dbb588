"""Annotated JPEGs for the MJPEG stream, encoded once per frame however many viewers watch."""
from __future__ import annotations

import threading
import time
from typing import Optional

import cv2

from webapp.annotate import draw_faces, placeholder
from webapp.services import Services

BOUNDARY = "frame"


class JpegFeed:
    """Viewers ask for "the frame after seq N"; the first to ask encodes it, the others reuse it."""

    def __init__(self, services: Services, *, quality: int = 80, pause: float = 1.0) -> None:
        self._services = services
        self._params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        self.pause = pause  # how long a viewer waits for a frame before it gets a placeholder instead
        self._lock = threading.Lock()
        self._seq = 0
        self._jpeg = b""
        self._placeholders: dict[str, bytes] = {}
        self.encoded = 0  # frames encoded so far: what the "once per frame" promise is about

    def next_jpeg(self, after_seq: int) -> tuple[int, bytes]:
        """(seq, JPEG) of the newest frame after after_seq, or a "camera offline" picture after a
        short wait, so a viewer always gets something and never hangs."""
        frames = self._services.frames
        if frames is None:  # API only: a placeholder now and then, not a flood of them
            self._services.stopping.wait(self.pause)
            frame = None
        else:
            frame = frames.wait_newer(after_seq, self.pause)
        if frame is None:
            return after_seq, self._placeholder(self._services.camera_status()["detail"])
        with self._lock:
            # Another viewer may have encoded a newer frame meanwhile: serve that one instead.
            if frame.seq > self._seq:
                self._jpeg = self._encode(draw_faces(frame.image, self._faces_for(frame.captured_at)))
                self._seq = frame.seq
                self.encoded += 1
            return self._seq, self._jpeg

    def _faces_for(self, captured_at: float):
        result, _ = self._services.current_result(time.time())
        # Boxes from a result much older than the frame would be drawn in the wrong place.
        if result is None or captured_at - result.captured_at > 0.5:
            return ()
        return result.faces

    def _placeholder(self, message: str) -> bytes:
        cached: Optional[bytes] = self._placeholders.get(message)
        if cached is None:
            if len(self._placeholders) > 16:  # messages carry source errors: keep the cache bounded
                self._placeholders.clear()
            cached = self._placeholders[message] = self._encode(placeholder(message))
        return cached

    def _encode(self, image) -> bytes:
        ok, buffer = cv2.imencode(".jpg", image, self._params)
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buffer.tobytes()


def multipart_part(jpeg: bytes) -> bytes:
    header = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return header + jpeg + b"\r\n"
