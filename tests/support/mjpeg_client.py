"""A minimal MJPEG client: reads the multipart JPEG parts of a stream such as /streaming, over real HTTP."""
from __future__ import annotations

import time
import urllib.request
from typing import Optional


class MjpegClient:
    def __init__(self, url: str, timeout: float = 10.0, headers: Optional[dict] = None) -> None:
        self.response = urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout)
        self.content_type = self.response.headers["Content-Type"]
        self._buffer = b""

    def next_part(self) -> bytes:
        """The JPEG bytes of the next part (blocks until it arrives or the socket times out)."""
        while True:
            part = self._take_part()
            if part is not None:
                return part
            chunk = self.response.read1(65536)
            if not chunk:
                raise EOFError("the stream ended")
            self._buffer += chunk

    def parts_for(self, seconds: float) -> list[bytes]:
        deadline = time.monotonic() + seconds
        parts = []
        while time.monotonic() < deadline:
            parts.append(self.next_part())
        return parts

    def close(self) -> None:
        self.response.close()

    def _take_part(self):
        start = self._buffer.find(b"--frame\r\n")
        if start < 0:
            return None
        header_end = self._buffer.find(b"\r\n\r\n", start)
        if header_end < 0:
            return None
        headers = dict(
            line.split(": ", 1) for line in self._buffer[start + 9 : header_end].decode().split("\r\n") if line
        )
        assert headers["Content-Type"] == "image/jpeg"
        length = int(headers["Content-Length"])
        body_start = header_end + 4
        if len(self._buffer) < body_start + length + 2:
            return None
        body = self._buffer[body_start : body_start + length]
        self._buffer = self._buffer[body_start + length + 2 :]
        return body
