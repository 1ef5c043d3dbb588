"""Face detectors behind one seam, chosen per role by --detector: live recognition, the stream's privacy
search (blur), and photos (the API's uploads, albums).

Backends: `haar` (OpenCV's cascades, frontal and profile), `blazeface` (MediaPipe's full-range model on
OpenCV's DNN, searched in tiles so faces of 40 px in an HD frame are found), `hog` (dlib's HOG, upsampled
for small faces) and `mtcnn` (the `mtcnn` package's networks, run in the model process where TensorFlow
already lives). bench/detect_bench.py measures each; the README gives the table behind the defaults.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from recognition.faces import Box, Detection

DETECTORS = ("haar", "blazeface", "hog", "mtcnn")  # the defaults of each role: config.DetectorConfig


@runtime_checkable
class FaceDetector(Protocol):
    """What every caller of a detector uses. Boxes are in the pixels of the image given, largest first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces to embed: confirmed, facing the camera enough to be named."""

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        """Every face, turned ones too (Detection.profile: followed, shown and hidden, never named)."""

    def detect_profiles(self, image: np.ndarray, frontal: list[Box]) -> list[Detection]:
        """Turned faces that none of the frontal boxes covers (backends that see turned faces in
        detect() return none here)."""

    def detect_near(self, image: np.ndarray, boxes: Sequence[Box], face_side: int = 80) -> list[Detection]:
        """Faces near the given boxes (where followed faces were a moment ago): a cheap look."""

    def candidates(self, image: np.ndarray) -> list[Box]:
        """Every face-like box, turned ones too, not confirmed: what the privacy search hides (hiding a
        false face costs nothing; missing a real one leaks it)."""


def make_detector(name: str, *, min_face: int = 40, detect_width: Optional[int] = None,
                  mtcnn: Optional[object] = None) -> FaceDetector:
    """The detector called name. min_face: the smallest face side (px of the original image) looked for
    by the backends that search in tiles (smaller: more tiles, slower). detect_width: the width Haar
    scales images down to. mtcnn: the model process, for `mtcnn`."""
    if name == "haar":
        from recognition.models.detectors.haar import HaarDetector

        return HaarDetector(detect_width=detect_width or 640)
    if name == "blazeface":
        from recognition.models.detectors.tiled import BlazeFaceDetector

        return BlazeFaceDetector(min_face=min_face)
    if name == "hog":
        from recognition.models.detectors.hog import HogDetector

        return HogDetector(min_face=min_face)
    if name == "mtcnn":
        from recognition.models.detectors.mtcnn import MtcnnDetector, RunsMtcnn

        if mtcnn is None:
            raise ValueError("the mtcnn detector runs in the model process: pass it as mtcnn=")
        if not isinstance(mtcnn, RunsMtcnn):
            raise ValueError(f"mtcnn= must be the model process that runs MTCNN, not {type(mtcnn).__name__}")
        return MtcnnDetector(mtcnn, min_face=min_face)
    raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, not {name!r}")
