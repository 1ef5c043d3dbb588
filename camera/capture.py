"""The background thread that reads a source into the frame buffer, pacing files and reconnecting."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from camera.frames import FrameBuffer
from camera.sources import SourceError, SourceSpec, VideoSource

log = logging.getLogger(__name__)


class CaptureThread:
    """Keeps the buffer filled with the source's newest frame.

    A file plays at its own frame rate and loops, as a camera would. A source that cannot be opened
    or stops delivering marks the buffer offline and is retried, waiting initial_backoff seconds and
    doubling up to max_backoff, so a camera that comes back is picked up again.
    """

    def __init__(
        self,
        spec: SourceSpec,
        buffer: FrameBuffer,
        *,
        opener: Callable[[SourceSpec], VideoSource] = VideoSource,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.spec = spec
        self.buffer = buffer
        self._opener = opener
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.buffer.set_status("stopped", "the server is shutting down")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        backoff = self._initial_backoff
        last_error = None
        while not self._stop.is_set():
            try:
                source = self._opener(self.spec)
            except SourceError as exc:
                if str(exc) != last_error:  # log each distinct failure once, not every retry
                    log.warning("camera offline: %s (retrying with backoff up to %.0fs)", exc, self._max_backoff)
                    last_error = str(exc)
                self.buffer.set_status("offline", str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            log.info("camera live: %s at %.2f fps", self.spec.label, source.fps)
            self.buffer.set_status("live", f"{source.fps:.2f} fps")
            try:
                delivered = self._play(source)
            except Exception:  # a decoder crash must not end the thread for good
                log.exception("camera source %s failed", self.spec.label)
                delivered = 0
            finally:
                source.close()
            if self._stop.is_set():
                break
            last_error = "stopped delivering frames"
            log.warning("camera offline: %s %s; reconnecting", self.spec.label, last_error)
            self.buffer.set_status("offline", last_error)
            if delivered:
                backoff = self._initial_backoff
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _play(self, source: VideoSource) -> int:
        """Publish frames until the source fails or stop is asked; returns how many were published."""
        delivered = 0
        since_rewind = 0
        interval = 1.0 / source.fps
        next_due = time.monotonic()
        while not self._stop.is_set():
            index = source.position
            image = source.read()
            if image is None:
                if source.paced and since_rewind and source.rewind():
                    since_rewind = 0
                    continue
                return delivered
            if source.paced:
                delay = next_due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -1.0:  # fell far behind (machine busy): resume the pace, don't burst
                    next_due = time.monotonic()
                next_due += interval
            self.buffer.publish(image, index)
            delivered += 1
            since_rewind += 1
        return delivered
