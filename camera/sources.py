"""Opening camera sources: a webcam index, a video file (played like a camera), or a stream URL."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

log = logging.getLogger(__name__)

WEBCAM, FILE, URL = "webcam", "file", "url"
# How long OpenCV's FFmpeg backend may block opening or reading a network stream.
STREAM_TIMEOUT_MS = 5000
# How long OpenCV's V4L2 backend waits for a webcam frame (its default is 10 s). It takes no open
# parameters (passing the FFmpeg ones makes it refuse to open), only this setting.
V4L_TIMEOUT_SETTING = "OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"


class SourceError(RuntimeError):
    """The source cannot be opened or stopped delivering; the message says which and why."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    target: str

    @property
    def label(self) -> str:
        """How the source is shown (status, log, /cameras, the offline picture): a URL by its scheme,
        host and port only, since user names, passwords and tokens hide in every other part of one
        (userinfo, path, query) depending on the camera's maker."""
        if self.kind == WEBCAM:
            return f"webcam {self.target}"
        if self.kind == URL:
            return shown_url(self.target)
        return self.target


def shown_url(url: str) -> str:
    """scheme://host[:port], then "/…" when anything else was left out."""
    scheme, _, rest = url.partition("://")
    host = re.split(r"[/?#]", rest.rpartition("@")[2])[0]  # after the last @: a password may hold a '/'
    return f"{scheme}://{host}{'/…' if host != rest else ''}"


def parse_source(text: str) -> Optional[SourceSpec]:
    """'0' -> webcam 0, 'rtsp://...'/'http://...' -> URL, 'none' -> None, anything else -> file."""
    text = str(text).strip()
    if text.lower() in ("", "none"):
        return None
    if text.isdigit():
        return SourceSpec(WEBCAM, text)
    if "://" in text:
        return SourceSpec(URL, text)
    return SourceSpec(FILE, str(Path(text).expanduser()))


class VideoSource:
    """A cv2.VideoCapture with the facts the capture thread needs about it."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        if spec.kind == FILE and not Path(spec.target).is_file():
            raise SourceError(f"video file not found: {spec.target}")
        if spec.kind == WEBCAM:
            os.environ.setdefault(V4L_TIMEOUT_SETTING, str(STREAM_TIMEOUT_MS // 1000))
            capture = cv2.VideoCapture(int(spec.target))
        elif spec.kind == URL:
            capture = cv2.VideoCapture(
                spec.target,
                cv2.CAP_FFMPEG,
                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS],
            )
        else:
            capture = cv2.VideoCapture(spec.target)
        if not capture.isOpened():
            capture.release()
            what = f"no camera at index {spec.target}" if spec.kind == WEBCAM else f"cannot open {spec.label}"
            raise SourceError(what)
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        # Files without a usable rate are played at 25 fps; live sources set their own pace.
        self.fps = fps if 1.0 <= fps <= 240.0 else 25.0

    @property
    def paced(self) -> bool:
        """Files are read as fast as the disk allows, so they must be slowed to their frame rate."""
        return self.spec.kind == FILE

    @property
    def position(self) -> Optional[int]:
        return int(self._capture.get(cv2.CAP_PROP_POS_FRAMES)) if self.spec.kind == FILE else None

    def read(self) -> Optional[np.ndarray]:
        ok, image = self._capture.read()
        return image if ok and image is not None and image.size else None

    def rewind(self) -> bool:
        return bool(self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def close(self) -> None:
        self._capture.release()
