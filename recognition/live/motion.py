"""Whether anything moved in the frame outside the faces already followed.

Searching a whole frame for faces is the costliest step of the live loop (tens of milliseconds a frame
here); looking again where followed faces are is cheap. A newcomer cannot appear without something
moving, so the whole frame is searched when something moved outside the followed faces, and now and
then anyway.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from recognition.faces import Box


class MotionGate:
    """level: the change of a thumbnail pixel (0-255, after a blur that evens out sensor noise) that
    counts as movement; share: the part of the thumbnail that must change (lower: newcomers noticed
    sooner, more full searches on a noisy camera)."""

    def __init__(self, width: int = 96, level: int = 24, share: float = 0.003) -> None:
        self._width = width
        self._level = level
        self._share = share
        self._last: Optional[np.ndarray] = None

    def moved(self, image: np.ndarray, followed: Sequence[Box]) -> bool:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = self._width / gray.shape[1]
        thumb = cv2.GaussianBlur(cv2.resize(gray, (self._width, max(1, round(gray.shape[0] * scale))),
                                            interpolation=cv2.INTER_AREA), (5, 5), 0)
        last, self._last = self._last, thumb
        if last is None or last.shape != thumb.shape:
            return True
        changed = cv2.absdiff(thumb, last) > self._level
        for box in followed:
            # The followed people moving is not news: their faces, and the body below each face (a
            # shoulder, a waving hand). Someone new behind them is found by the periodic full search.
            side = max(box.w, box.h)
            x0, y0 = int((box.x - side) * scale), int((box.y - 0.5 * side) * scale)
            x1 = int((box.x + box.w + side) * scale) + 1
            changed[max(0, y0) :, max(0, x0) : max(0, x1)] = False
        return float(changed.mean()) > self._share
