"""Faces of a photo or a video sent in: who they are, their embeddings, and comparing two embeddings.
Nothing received is stored."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recognition.faces import Box, FaceObservation
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.pipeline.video import VideoExtraction, VideoLimits, extract_from_video
from recognition.store.gallery import distinct_looks
from recognition.store.identity import Identity
from recognition.store.interface import Match
from services.attributes import FaceAttributes


@dataclass(frozen=True)
class Comparison:
    """threshold_source: "model" (the model's threshold: two photos) or "person" (that person's bar, which
    rises with their distinct looks: a photo against an enrolled identity)."""

    similarity: float
    match: bool
    threshold: float
    threshold_source: str = "model"


@dataclass(frozen=True)
class ChosenFace:
    """The face a comparison uses: number `index` (0: the largest) of the `count` found in a photo."""

    count: int
    index: int
    box: Box
    embedding: np.ndarray


class FaceNotChosen(ValueError):
    """No face in the photo (status 422), or fewer than the number asked for (400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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

    def face(self, image: np.ndarray, index: int, what: str) -> ChosenFace:
        """Face number index of image, largest first (what names the photo in a refusal). Not matched
        against the store: a comparison says nothing of who else the face may be."""
        boxes, vectors = self.analyzer.embed(image)
        order = sorted(range(len(boxes)), key=lambda i: boxes[i].area, reverse=True)
        if not order:
            raise FaceNotChosen(422, f"no face was found in {what}")
        if index >= len(order):
            raise FaceNotChosen(400, f"face {index} of {what} was asked for, but it has {len(order)} face(s) "
                                     "(0 is the largest)")
        chosen = order[index]
        return ChosenFace(len(order), index, boxes[chosen], vectors[chosen])

    def compare_to(self, identity: Identity, embedding: np.ndarray) -> Comparison:
        """A face against one enrolled person (1:1), by the rules naming uses: its best similarity to
        their vectors, against their own bar (the threshold, raised for each distinct look they have),
        and never verified when closer to a face marked "not this person" for them."""
        matcher = self.analyzer.matcher
        similarity = max(float(matcher.similarity(vector, embedding)) for vector in identity.embeddings)
        bar = matcher.required(distinct_looks(np.vstack(identity.embeddings)))
        return Comparison(similarity, matcher.verify(identity, embedding) is not None, bar, "person")

    def candidates(self, embeddings: np.ndarray, limit: int) -> list[list[Match]]:
        """Each face's `limit` closest enrolled people, closest first (Matcher.ranked)."""
        return self.analyzer.matcher.ranked(embeddings, limit)
