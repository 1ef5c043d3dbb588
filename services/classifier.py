"""The classifier (seed 004): train it on everyone with two or more vectors, and name a photo's faces with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from recognition.faces import Box
from recognition.matching.classifier import NotEnoughPeople, train
from recognition.matching.trained import Trained, people_fingerprint
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.identity import Identity
from recognition.store.interface import FaceStore
from services.attributes import FaceAttributes

if TYPE_CHECKING:
    from recognition.matching.classifier import Report
    from recognition.matching.trained import ClassifierFile


class CannotClassify(RuntimeError):
    """Nothing to train on, nothing trained yet, trained on another model, or a deletion while training:
    a conflict with the store's state (409), with what to do in the message."""


@dataclass(frozen=True)
class Predicted:
    box: Box
    identity: Optional[Identity]
    probability: float
    attributes: dict
    embedding: Optional[np.ndarray] = None  # for the closest people ('limit'), which the store's search lists


@dataclass(frozen=True)
class Prediction:
    faces: list[Predicted]
    method: str
    stale: bool  # someone was enrolled, changed or deleted since it was trained


@dataclass(frozen=True)
class Classifier:
    """file is None for a store that keeps no data dir: then every use case raises CannotClassify."""

    store: FaceStore
    analyzer: FaceAnalyzer
    attributes: FaceAttributes
    file: Optional["ClassifierFile"]

    def _file(self) -> "ClassifierFile":
        if self.file is None:
            raise CannotClassify("this store keeps no classifier")
        return self.file

    def _fingerprint(self, model_name: str) -> str:
        return people_fingerprint([s for s in self.store.summaries() if s["model"] == model_name])

    def train(self) -> "Report":
        file, model_name = self._file(), self.analyzer.model_name
        deletions = file.deletions
        fingerprint = self._fingerprint(model_name)
        people = [i for i in self.store.identities() if i.model == model_name]
        try:
            model, report = train([i.hash for i in people], [np.stack(i.embeddings) for i in people],
                                  self.analyzer.matcher.required)
        except NotEnoughPeople as exc:
            raise CannotClassify(str(exc))
        if not file.save(Trained(model, report, fingerprint, model_name), deletions):
            raise CannotClassify("someone was deleted while the classifier was training; it was not kept: train again")
        return report

    def predict(self, image: np.ndarray) -> Prediction:
        """Every face of image, named by the classifier or unknown."""
        trained = self._file().get()
        if trained is None:
            raise CannotClassify("no classifier has been trained yet: POST /train_model first")
        if trained.model_name != self.analyzer.model_name:
            raise CannotClassify(f"the classifier was trained on {trained.model_name} vectors; the server runs "
                                 f"{self.analyzer.model_name}: POST /train_model again")
        boxes, vectors = self.analyzer.embed(image)
        predicted = trained.model.predict(vectors) if len(boxes) else []
        faces = [Predicted(box, self.store.get(identity_hash) if identity_hash else None, score, found, vector)
                 for box, (identity_hash, score), found, vector in zip(boxes, predicted,
                                                                       self.attributes.of(image, boxes), vectors)]
        return Prediction(faces, trained.model.method, self._fingerprint(trained.model_name) != trained.fingerprint)
