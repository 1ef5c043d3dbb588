"""The background threads that read a source into the frame buffer: pacing files, reconnecting, and
noticing a camera that stops delivering frames without saying so."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Callable

from camera.frames import FrameBuffer
from camera.sources import SourceError, SourceSpec, VideoSource

log = logging.getLogger(__name__)


class CaptureThread:
    """Keeps the buffer filled with the source's newest frame.

    A supervisor thread opens the source and hands it to a reader thread. A file plays at its own frame
    rate and loops, as a camera would. A source that cannot be opened or ends marks the buffer offline
    and is retried, waiting initial_backoff seconds and doubling up to max_backoff. A source that goes
    quiet (a hung webcam or stream: no error, no frame) for stall_timeout seconds is marked stalled,
    abandoned and reopened; its reader, stuck inside the driver, is left to end when the read returns.
    """

    def __init__(
        self,
        spec: SourceSpec,
        buffer: FrameBuffer,
        *,
        opener: Callable[[SourceSpec], VideoSource] = VideoSource,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stall_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.spec = spec
        self.buffer = buffer
        self._opener = opener
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._stall_timeout = stall_timeout
        self._stop = threading.Event()
        # How a file source keeps its pace: the time now, and waiting for the next frame's time.
        self._pace = (clock, sleep or self._stop.wait)
        self._readers = itertools.count(1)
        self._thread = threading.Thread(target=self._supervise, name="camera-capture", daemon=True)

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

    def _supervise(self) -> None:
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
            if self._stop.is_set():  # stop() came while the source was opening
                source.close()
                break
            log.info("camera live: %s at %.2f fps", self.spec.label, source.fps)
            self.buffer.set_status("live", f"{source.fps:.2f} fps")
            reader = _Reader(source, self.buffer, self._stop, self._pace, next(self._readers))
            delivered, stalled = self._watch(reader)
            if self._stop.is_set():
                break
            if stalled:
                last_error = f"no frame for {self._stall_timeout:.0f}s (the camera hung); reconnecting"
                log.warning("camera stalled: %s gave %s", self.spec.label, last_error)
                self.buffer.set_status("stalled", last_error)
            else:
                last_error = "stopped delivering frames"
                log.warning("camera offline: %s %s; reconnecting", self.spec.label, last_error)
                self.buffer.set_status("offline", last_error)
            if delivered:
                backoff = self._initial_backoff
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _watch(self, reader: "_Reader") -> tuple[int, bool]:
        """Wait for the reader to end, or abandon it once it has gone stall_timeout without a frame.
        Returns (frames it delivered, whether it stalled)."""
        reader.start()
        while not self._stop.is_set():
            reader.thread.join(min(0.5, self._stall_timeout / 4))
            if not reader.thread.is_alive():
                return reader.delivered, False
            if time.monotonic() - reader.last_progress > self._stall_timeout:
                reader.abandon()
                return reader.delivered, True
        reader.abandon()
        reader.thread.join(1.0)
        return reader.delivered, False


class _Reader:
    """Reads one opened source until it ends, fails or is abandoned; owns (and finally closes) it."""

    def __init__(self, source: VideoSource, buffer: FrameBuffer, stop: threading.Event, pace, number: int) -> None:
        self._source = source
        self._buffer = buffer
        self._stop = stop
        self._clock, self._sleep = pace
        self._abandoned = threading.Event()
        self.delivered = 0
        self.last_progress = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"camera-reader-{number}", daemon=True)

    def start(self) -> None:
        self.last_progress = time.monotonic()
        self.thread.start()

    def abandon(self) -> None:
        self._abandoned.set()

    def _ended(self) -> bool:
        return self._stop.is_set() or self._abandoned.is_set()

    def _run(self) -> None:
        try:
            self._play()
        except Exception:  # a decoder crash must not end capture for good
            log.exception("camera source %s failed", self._source.spec.label)
        finally:
            self._source.close()

    def _play(self) -> None:
        source = self._source
        since_rewind = 0
        interval = 1.0 / source.fps
        next_due = self._clock()
        while not self._ended():
            index = source.position
            image = source.read()  # may block inside the driver: the supervisor watches for that
            if self._ended():
                return
            if image is None:
                if source.paced and since_rewind and source.rewind():
                    since_rewind = 0
                    continue
                return
            if source.paced:
                delay = next_due - self._clock()
                if delay > 0:
                    self._sleep(delay)
                elif delay < -1.0:  # fell far behind (machine busy): resume the pace, don't burst
                    next_due = self._clock()
                next_due += interval
                if self._ended():
                    return
            self._buffer.publish(image, index)
            self.delivered += 1
            self.last_progress = time.monotonic()
            since_rewind += 1
