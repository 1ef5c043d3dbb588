"""The per-image pipeline: detect, align, embed, match."""
from __future__ import annotations

import numpy as np

from recognition.faces import Box, FaceObservation
from recognition.matching.matcher import Matcher
from recognition.models.aligner import Aligner
from recognition.models.detectors import FaceDetector
from recognition.models.embedder import Embedder, chip_size


class FaceAnalyzer:
    def __init__(
        self,
        detector: FaceDetector,
        aligner: Aligner,
        embedder: Embedder,
        matcher: Matcher,
    ) -> None:
        self.detector = detector
        self.aligner = aligner
        self.embedder = embedder
        self.matcher = matcher

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    def embed(self, image: np.ndarray) -> tuple[list[Box], np.ndarray]:
        """Boxes (largest first) and their unit embeddings for every face in a BGR image."""
        boxes = self.detector.detect(image)
        if not boxes:
            return [], np.zeros((0, self.embedder.dimensions or 0), dtype=np.float32)
        return boxes, self.embedder.embed(self.chips(image, boxes))

    def chips(self, image: np.ndarray, boxes: list[Box]) -> list[np.ndarray]:
        """The aligned chips of the boxes, at the size the embedding model takes."""
        return self.aligner.chips(image, boxes, chip_size(self.embedder))

    def analyze(self, image: np.ndarray) -> list[FaceObservation]:
        """Every face in the image with whom it matched; two faces never share an identity."""
        return self.identify(*self.embed(image))

    def identify(self, boxes: list[Box], embeddings: np.ndarray) -> list[FaceObservation]:
        matches = self.matcher.identify(embeddings)
        return [
            FaceObservation(
                box=box,
                embedding=vector,
                identity_hash=match.identity_hash if match else None,
                name=match.name if match else None,
                similarity=match.similarity if match else None,
            )
            for box, vector, match in zip(boxes, embeddings, matches)
        ]
