"""Faces of a photo or a video sent in: who they are, their embeddings, and comparing two embeddings.
Nothing received is stored."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recognition.faces import Box, FaceObservation
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.pipeline.video import VideoExtraction, VideoLimits, extract_from_video
from services.attributes import FaceAttributes


@dataclass(frozen=True)
class Comparison:
    similarity: float
    match: bool
    threshold: float


@dataclass(frozen=True)
class Photos:
    """video_limits: what one uploaded video may cost (duration, frames, pixels) before it is refused."""

    analyzer: FaceAnalyzer
    attributes: FaceAttributes
    video_limits: VideoLimits = field(default_factory=VideoLimits)

    @property
    def model_name(self) -> str:
        return self.analyzer.model_name

    @property
    def dimensions(self) -> int:
        """The length of the model's vectors (known once the model is loaded, which the server waits for)."""
        dimensions = self.analyzer.embedder.dimensions
        if dimensions is None:
            raise RuntimeError("the embedding model is not loaded: its vectors' length is not known yet")
        return dimensions

    def faces(self, image: np.ndarray) -> tuple[list[FaceObservation], list[dict]]:
        """Every face with whom it matched, and (with --attributes) each one's age, gender and emotion."""
        faces = self.analyzer.analyze(image)
        return faces, self.attributes.of(image, [face.box for face in faces])

    def embeddings(self, image: np.ndarray) -> tuple[list[Box], np.ndarray, list[dict]]:
        boxes, vectors = self.analyzer.embed(image)
        return boxes, vectors, self.attributes.of(image, boxes)

    def video(self, data: bytes) -> VideoExtraction:
        """The faces of a video, sampled within video_limits; VideoError when it cannot be read or is too large."""
        return extract_from_video(data, self.analyzer, self.video_limits)

    def compare(self, first: np.ndarray, second: np.ndarray) -> Comparison:
        matcher = self.analyzer.matcher
        similarity = float(matcher.similarity(first, second))
        return Comparison(similarity, similarity >= matcher.threshold, matcher.threshold)
