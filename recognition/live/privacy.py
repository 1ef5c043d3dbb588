"""Which faces of a streamed frame to pixelate: every face (`all`), or every face not confirmed as a
known person (`unknown`).

It fails closed. The frame is searched for faces itself, so a face that recognition has not looked at
yet (it lags the stream) is blurred; a face counts as known only where a recent recognition result
names someone at that place; when recognition lags too far or stops, every face is blurred.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from recognition.faces import Box, Detection, FaceObservation
from recognition.live.tracker import overlap

BLUR_MODES = ("none", "unknown", "all")


class FaceFinder(Protocol):
    def detect_all(self, image: np.ndarray) -> list[Detection]: ...


class PrivacyFilter:
    """trust_for: how old (seconds) a recognition result may be and still vouch for a known face; older
    than that, known faces are blurred too. margin: how much larger than the face the blurred patch is
    (hair, and the drift of a face that moved since it was found)."""

    def __init__(self, mode: str, finder: FaceFinder, *, trust_for: float = 1.0, margin: float = 0.25) -> None:
        if mode not in BLUR_MODES:
            raise ValueError(f"blur must be one of {', '.join(BLUR_MODES)}, not {mode!r}")
        self.mode = mode
        self._finder = finder
        self._trust_for = trust_for
        self._margin = margin

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def regions(self, image: np.ndarray, faces: Sequence[FaceObservation], result_age: float) -> list[Box]:
        """The boxes to pixelate in image, given the latest recognition result's faces and its age."""
        if not self.active:
            return []
        recent = list(faces) if result_age <= self._trust_for else []
        known = [f.box for f in recent if f.known] if self.mode == "unknown" else []
        boxes = [d.box for d in self._finder.detect_all(image)
                 if not any(overlap(d.box, k) >= 0.3 for k in known)]
        # What recognition saw and did not name is blurred even where this frame's search missed it.
        boxes += [f.box for f in recent if self.mode == "all" or not f.known]
        height, width = image.shape[:2]
        return [self._grown(box, width, height) for box in boxes]

    def _grown(self, box: Box, width: int, height: int) -> Box:
        dx, dy = int(box.w * self._margin), int(box.h * self._margin)
        x, y = max(0, box.x - dx), max(0, box.y - dy)
        return Box(x, y, min(width, box.x + box.w + dx) - x, min(height, box.y + box.h + dy) - y)
