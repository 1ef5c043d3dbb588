"""Face detection with OpenCV's Haar cascade, read from the files OpenCV itself ships."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from recognition.faces import Box

log = logging.getLogger(__name__)

CASCADE_FILE = "haarcascade_frontalface_default.xml"


def default_cascade_path() -> Path:
    """Where OpenCV 4.x keeps its frontal-face cascade (OpenCV 5 no longer ships it)."""
    data = getattr(cv2, "data", None)
    if data is None or not getattr(data, "haarcascades", None):
        raise RuntimeError(
            f"OpenCV {cv2.__version__} ships no Haar cascade files; install OpenCV 4.x "
            "(pip install -r requirements.txt)"
        )
    return Path(data.haarcascades) / CASCADE_FILE


class HaarDetector:
    """Finds frontal faces.

    min_neighbors and min_confidence (the cascade's final-stage weight) trade false detections
    (background patterns taken for faces: lower values) against missed faces (higher values); on the
    fixture photos 6 and 3.0 keep every whole face and drop every false one. min_face is the smallest
    face side in pixels looked for, after large images are scaled down to detect_width so detection
    time stays flat whatever the camera resolution.
    """

    name = "haar"

    def __init__(
        self,
        cascade_path: Optional[Path] = None,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 6,
        min_confidence: float = 3.0,
        min_face: int = 36,
        detect_width: int = 640,
    ) -> None:
        path = Path(cascade_path) if cascade_path else default_cascade_path()
        if not path.is_file():
            raise RuntimeError(f"Haar cascade not found at {path}; reinstall OpenCV 4.x")
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"Haar cascade at {path} could not be loaded")
        self.cascade_path = path
        self._lock = threading.Lock()
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors
        self._min_confidence = min_confidence
        self._min_face = min_face
        self._detect_width = detect_width

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of the faces in a BGR image, largest first."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape[:2]
        scale = min(1.0, self._detect_width / max(width, height))
        if scale < 1.0:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        with self._lock:  # a CascadeClassifier must not run in two threads at once
            found, _levels, weights = self._cascade.detectMultiScale3(
                gray,
                scaleFactor=self._scale_factor,
                minNeighbors=self._min_neighbors,
                minSize=(self._min_face, self._min_face),
                outputRejectLevels=True,
            )
        boxes = [
            Box(round(x / scale), round(y / scale), round(w / scale), round(h / scale))
            for (x, y, w, h), weight in zip(found, np.ravel(weights))
            if weight >= self._min_confidence
        ]
        return sorted(boxes, key=lambda b: b.area, reverse=True)
