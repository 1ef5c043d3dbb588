"""Face detection with OpenCV's Haar cascades, read from the files OpenCV itself ships; every face it
returns for recognition is confirmed by a second network first (confirm.py)."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from recognition.faces import Box, Detection, centre_inside
from recognition.models.detectors.confirm import FaceConfirmer

log = logging.getLogger(__name__)

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# A second cascade, trained differently, confirms each candidate: the two rarely agree on the
# background patterns (curtains, crowds) that either one alone takes for a face.
VERIFIER_FILE = "haarcascade_frontalface_alt2.xml"
PROFILE_FILE = "haarcascade_profileface.xml"  # faces turned to one side; run on the mirrored frame for the other


def cascade_folder() -> Path:
    """Where OpenCV 4.x keeps its cascades (OpenCV 5 no longer ships them)."""
    data = getattr(cv2, "data", None)
    if data is None or not getattr(data, "haarcascades", None):
        raise RuntimeError(
            f"OpenCV {cv2.__version__} ships no Haar cascade files; install OpenCV 4.x "
            "(pip install -r requirements.txt)"
        )
    return Path(data.haarcascades)


def load_cascade(path: Path) -> cv2.CascadeClassifier:
    if not path.is_file():
        raise RuntimeError(f"Haar cascade not found at {path}; reinstall OpenCV 4.x")
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"Haar cascade at {path} could not be loaded")
    return cascade


class HaarDetector:
    """Finds frontal faces.

    min_neighbors trades false detections (lower values find more, including background) against
    missed faces (higher values); verification with a second cascade removes most false ones at the
    cost of an occasional small or partly hidden face. min_face is the smallest face side looked
    for, after large images are scaled down to detect_width so detection time stays flat whatever
    the camera resolution.
    """

    name = "haar"

    def __init__(
        self,
        folder: Optional[Path] = None,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face: int = 36,
        detect_width: int = 640,
        verify: bool = True,
        confirm: bool = True,
    ) -> None:
        folder = Path(folder) if folder else cascade_folder()
        self.cascade_path = folder / CASCADE_FILE
        self._cascade = load_cascade(self.cascade_path)
        self._verifier = load_cascade(folder / VERIFIER_FILE) if verify else None
        self._profile = load_cascade(folder / PROFILE_FILE)
        self._lock = threading.Lock()  # a CascadeClassifier must not run in two threads at once
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors
        self._min_face = min_face
        self._detect_width = detect_width
        self._confirmer = FaceConfirmer() if confirm else None

    def _confirmed_boxes(self, image: np.ndarray, boxes: list[Box]) -> list[Box]:
        return self._confirmer.confirmed(image, boxes) if self._confirmer is not None else boxes

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of the frontal faces in a BGR image, largest first."""
        gray, scale = self._gray(image)
        with self._lock:
            found = self._frontal(gray, {"minSize": (self._min_face, self._min_face)})
        return self._confirmed_boxes(image, _sorted(_scaled(found, scale)))

    def candidates(self, image: np.ndarray) -> list[Box]:
        """Every face-like box, frontal or in profile, not confirmed: what a privacy search hides."""
        gray, scale = self._gray(image)
        bounds = {"minSize": (self._min_face, self._min_face)}
        with self._lock:
            frontal = _sorted(_scaled(self._frontal(gray, bounds, verify=False), scale))
            profiles = _scaled(self._profiles(gray, bounds), scale)
        return frontal + _sorted(_uncovered(profiles, frontal))

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        """Frontal faces, then faces in profile that no frontal box already covers; largest first in each."""
        frontal = self.detect(image)
        return [Detection(box) for box in frontal] + self.detect_profiles(image, frontal)

    def detect_profiles(self, image: np.ndarray, frontal: list[Box]) -> list[Detection]:
        """Faces in profile (either side: the profile cascade knows one side, so it also runs on the
        mirrored frame) that none of the given frontal boxes covers; largest first."""
        gray, scale = self._gray(image)
        with self._lock:
            profiles = _scaled(self._profiles(gray, {"minSize": (self._min_face, self._min_face)}), scale)
        return [Detection(box, profile=True)
                for box in self._confirmed_boxes(image, _sorted(_uncovered(profiles, frontal)))]

    def detect_near(self, image: np.ndarray, boxes: Sequence[Box], face_side: int = 80) -> list[Detection]:
        """Faces around the given boxes (where followed faces were a moment ago), each neighbourhood
        scaled so the face is about face_side pixels and searched only for faces of about that size
        (it moved little since), without the second cascade's confirmation (it was confirmed when first
        found): a look costing a few milliseconds, where a search of the whole frame costs hundreds."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape[:2]
        bounds = {"minSize": (int(0.6 * face_side),) * 2, "maxSize": (int(1.6 * face_side),) * 2}
        found: list[Detection] = []
        for box in boxes:
            margin = int(0.6 * max(box.w, box.h))
            left, top = max(0, box.x - margin), max(0, box.y - margin)
            right, bottom = min(width, box.x + box.w + margin), min(height, box.y + box.h + margin)
            scale = min(1.0, face_side / max(box.w, 1))
            region = gray[top:bottom, left:right]
            if region.size == 0:
                continue
            if scale < 1.0:
                size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
                region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
            with self._lock:
                frontal = self._frontal(region, bounds, verify=False)
                profiles = [] if frontal else self._profiles(region, bounds)
            for kind, hits in ((False, frontal), (True, profiles)):
                for found_box in _scaled(hits, scale):
                    moved = Box(found_box.x + left, found_box.y + top, found_box.w, found_box.h)
                    if not any(centre_inside(moved, d.box) for d in found):
                        found.append(Detection(moved, profile=kind))
        return found

    def _profiles(self, gray: np.ndarray, bounds: dict) -> list[tuple]:
        """Faces in profile looking either way, one box per face (the larger where two overlap)."""
        found = [tuple(int(v) for v in box) for box in self._profile.detectMultiScale(
            gray, scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors, **bounds)]
        width = gray.shape[1]
        found += [(width - int(x) - int(w), int(y), int(w), int(h)) for x, y, w, h in self._profile.detectMultiScale(
            cv2.flip(gray, 1), scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors, **bounds)]
        kept: list[tuple] = []
        for box in sorted(found, key=lambda b: b[2] * b[3], reverse=True):
            if not any(centre_inside(Box(*box), Box(*other)) for other in kept):
                kept.append(box)
        return kept

    def _gray(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image in grey, scaled down to detect_width: detection time stays flat whatever the camera."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape[:2]
        scale = min(1.0, self._detect_width / max(width, height))
        if scale < 1.0:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        return gray, scale

    def _frontal(self, gray: np.ndarray, bounds: dict, verify: bool = True) -> list[tuple]:
        found = self._cascade.detectMultiScale(gray, scaleFactor=self._scale_factor, minNeighbors=self._min_neighbors,
                                               **bounds)
        return [tuple(int(v) for v in box) for box in found if not verify or self._confirmed(gray, *box)]

    def _confirmed(self, gray: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
        if self._verifier is None:
            return True
        margin = int(0.3 * w)
        region = gray[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin]
        side = int(0.6 * w)
        hits = self._verifier.detectMultiScale(region, scaleFactor=1.05, minNeighbors=2, minSize=(side, side))
        return len(hits) > 0


def _scaled(boxes: list[tuple], scale: float) -> list[Box]:
    return [Box(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in boxes]


def _sorted(boxes: list[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def _uncovered(boxes: list[Box], others: list[Box]) -> list[Box]:
    return [box for box in boxes if not any(centre_inside(box, other) for other in others)]
