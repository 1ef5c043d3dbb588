"""Face detection with dlib's HOG detector (`dlib.get_frontal_face_detector()`: no weights to load).

dlib slides a window of about 80 px over a pyramid of the image that only shrinks, so a face is found only
once it is about 80 px tall. To find faces of min_face px the image is first resized by 80 / min_face:
upsampled for small faces (2x for 40 px faces: four times the pixels, so four times the work), scaled down
when min_face is over 80 (a 1080p frame searched for faces of 160 px or more costs a quarter). Upsampling
stops at max_upsample, which caps the cost on HD frames; faces smaller than 80 / max_upsample px are then
missed.

dlib's box spans brows to lower lip; it is grown to reach the forehead and the chin (a fifth of its height
above, 6/5 of it in all), so its boxes cover what Haar's and BlazeFace's do.

dlib releases Python's global interpreter lock while it searches: a pure-Python counting thread kept
counting through a 720 ms search of a 1080p frame (its longest pause 17 ms, the machine's scheduling),
where a C call that holds the lock (sum over a range) stopped it for 136 of its 150 ms (bench/detect_bench.py
measures both). So a search beside the stream thread does not freeze it, though it takes a core while it
runs. One dlib detector must not run in two threads at once: a lock serialises the calls.
"""
from __future__ import annotations

import logging
import threading
from typing import Sequence

import cv2
import numpy as np

from recognition.faces import Box, Detection, centre_inside

log = logging.getLogger(__name__)

WINDOW = 80  # px: the face height (grown box) dlib's frontal detector finds reliably without upsampling
NEAR_FACE = 96  # px: a followed face's size in detect_near: above the window, room for it to have shrunk
NEAR_CONTEXT = 3.0  # the square searched around a followed face, in face sides


def grown(left: int, top: int, right: int, bottom: int, width: int, height: int) -> Box:
    """dlib's brows-to-lip rectangle grown to the forehead and the chin, clipped to the image."""
    h = bottom - top
    x0, y0 = max(0, left), max(0, top - h // 5)
    x1, y1 = min(width, right), min(height, top - h // 5 + h * 6 // 5)
    return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


class HogDetector:
    """dlib's HOG frontal face detector.

    min_face: the smallest face side (px of the image given) looked for; the image is resized by
    80 / min_face, so a smaller min_face finds more distant faces at a cost that grows with the square of
    the scale (1080p: ~0.2 s at 1x, 0.75 s or more at 2x, on one core). max_upsample: the largest such
    scale (higher: smaller faces on large frames, much slower; lower: a cheaper search that misses faces
    under 80 / max_upsample px). confirm: each face is looked at again by BlazeFace's short-range model
    (confirm.py), a few milliseconds per face; off by default, as HOG put no box on the background of
    the benchmark's crowds, photos or clip for it to remove.
    """

    name = "hog"

    def __init__(self, min_face: int = 40, *, max_upsample: float = 2.0, confirm: bool = False) -> None:
        import dlib

        if min_face < 1:
            raise ValueError(f"min_face must be a positive number of pixels, not {min_face}")
        self.min_face = min_face
        self.scale = min(max_upsample, WINDOW / min_face)
        if self.scale < WINDOW / min_face:
            log.info("HOG upsamples at most %.1fx: faces under %d px are missed", max_upsample,
                     round(WINDOW / self.scale))
        self._detector = dlib.get_frontal_face_detector()
        self._lock = threading.Lock()  # a dlib detector must not run in two threads at once
        self._confirmer = None
        if confirm:
            from recognition.models.detectors.confirm import FaceConfirmer

            self._confirmer = FaceConfirmer()

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of the frontal faces in a BGR (or grey) image, in its pixels, largest first."""
        found = self._search(_gray(image), self.scale)
        if self._confirmer is not None:
            found = self._confirmer.confirmed(image, found)
        return sorted(found, key=lambda b: b.area, reverse=True)

    def candidates(self, image: np.ndarray) -> list[Box]:
        """Every face-like box, unconfirmed: what a privacy search hides."""
        return sorted(self._search(_gray(image), self.scale), key=lambda b: b.area, reverse=True)

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        return [Detection(box) for box in self.detect(image)]

    def detect_profiles(self, image: np.ndarray, frontal: list[Box]) -> list[Detection]:
        return []  # the frontal detector knows no profiles; its boxes include faces turned a little

    def detect_near(self, image: np.ndarray, boxes: Sequence[Box], face_side: int = 80) -> list[Detection]:
        """Faces around the given boxes (where followed faces were a moment ago): a square of three face
        sides around each, scaled so the face is about face_side px (at least NEAR_FACE: the window, and
        room for the face to have shrunk), unconfirmed (it was confirmed when first found). Costs a few
        milliseconds a face, where a search of the whole frame costs hundreds."""
        gray = _gray(image)
        height, width = gray.shape[:2]
        found: list[Detection] = []
        for box in boxes:
            side = max(box.w, box.h)
            if side <= 0:
                continue
            square = round(NEAR_CONTEXT * side)
            left, top = max(0, box.x + box.w // 2 - square // 2), max(0, box.y + box.h // 2 - square // 2)
            right, bottom = min(width, left + square), min(height, top + square)
            region = gray[top:bottom, left:right]
            if region.size == 0:
                continue
            scale = min(4.0, max(face_side, NEAR_FACE) / side)
            for near in self._search(region, scale):
                moved = Box(near.x + left, near.y + top, near.w, near.h)
                if not any(centre_inside(moved, d.box) for d in found):
                    found.append(Detection(moved))
        return found

    def _search(self, gray: np.ndarray, scale: float) -> list[Box]:
        """Faces in a grey image searched at scale, as grown boxes in the image's own pixels."""
        height, width = gray.shape[:2]
        if abs(scale - 1.0) > 1e-3:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
        with self._lock:
            rects = self._detector(np.ascontiguousarray(gray), 0)
        return [grown(round(r.left() / scale), round(r.top() / scale), round(r.right() / scale),
                      round(r.bottom() / scale), width, height) for r in rects]


def _gray(image: np.ndarray) -> np.ndarray:
    """Grey, which dlib searches in 60% of the time it takes on colour (HOG's gradients need no hue)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
