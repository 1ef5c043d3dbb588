"""The per-image pipeline: detect, align, embed, match."""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np

from recognition.faces import Box, FaceObservation
from recognition.matching.matcher import Matcher
from recognition.models.aligner import LandmarkAligner
from recognition.models.detectors.haar import HaarDetector


class Embedder(Protocol):
    """Aligned BGR chips in, unit vectors out (DeepFaceEmbedder, or EmbedderProcess around it)."""

    model_name: str
    input_size: Optional[int]
    dimensions: Optional[int]

    def embed(self, chips: list[np.ndarray]) -> np.ndarray: ...


class FaceAnalyzer:
    def __init__(
        self,
        detector: HaarDetector,
        aligner: LandmarkAligner,
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
        chips = self.aligner.chips(image, boxes, self.embedder.input_size)
        return boxes, self.embedder.embed(chips)

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
