"""The newest frame and the camera's state, shared between the capture thread and its readers."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR, never modified after publishing
    seq: int  # running number over the life of the buffer
    source_index: Optional[int]  # position within a file source, None for live sources
    captured_at: float  # unix time


@dataclass(frozen=True)
class CameraStatus:
    state: str  # "starting", "live", "offline" or "stopped"
    detail: str
    source: str
    since: float

    def to_json(self) -> dict:
        return {"state": self.state, "detail": self.detail, "source": self.source, "since": self.since}


class FrameFeed(Protocol):
    """Where readers (recognition, the privacy search) take the newest frame from (FrameBuffer)."""

    def wait_newer(self, after_seq: int, timeout: float) -> Optional[Frame]:
        """The latest frame if its seq is above after_seq, waiting at most timeout seconds for one."""


class FrameBuffer:
    """Holds only the latest frame: readers that fall behind skip frames instead of queueing them."""

    def __init__(self, source: str = "") -> None:
        self._changed = threading.Condition()
        self._frame: Optional[Frame] = None
        self._next_seq = 1
        self._status = CameraStatus("starting", "opening the source", source, time.time())
        self._published_at: deque = deque(maxlen=512)  # monotonic times of the latest frames, for rate()

    def publish(self, image: np.ndarray, source_index: Optional[int]) -> Frame:
        with self._changed:
            frame = Frame(image, self._next_seq, source_index, time.time())
            self._next_seq += 1
            self._frame = frame
            self._published_at.append(time.monotonic())
            self._changed.notify_all()
        return frame

    def rate(self, window: float = 5.0) -> float:
        """Frames a second from the camera over the last window seconds: the rate viewers can get."""
        now = time.monotonic()
        return sum(1 for at in list(self._published_at) if now - at <= window) / window

    def set_status(self, state: str, detail: str) -> None:
        with self._changed:
            if (self._status.state, self._status.detail) != (state, detail):
                self._status = CameraStatus(state, detail, self._status.source, time.time())
            self._changed.notify_all()

    @property
    def status(self) -> CameraStatus:
        return self._status

    @property
    def latest(self) -> Optional[Frame]:
        return self._frame

    def wait_newer(self, after_seq: int, timeout: float) -> Optional[Frame]:
        """The latest frame if its seq is above after_seq, waiting at most timeout seconds for one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._frame is None or self._frame.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
            return self._frame
