"""Matching embeddings against the store by cosine similarity, and enrolling new identities."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from recognition.store.identity import Identity
from recognition.store.file_store import FaceStore, Gallery, gallery_of

log = logging.getLogger(__name__)

# Cosine similarity at or above which two faces are called the same person, per model.
# Raising a threshold trades false accepts (a stranger named as someone) for false rejects (a known
# person shown as unknown); lowering it does the opposite. The Dlib value was measured on aligned
# fixture photos (same person >= 0.934, different people <= 0.887) and sits between the two;
# Facenet's is DeepFace's published cosine threshold (distance 0.40). Other models use DeepFace's.
MATCH_THRESHOLDS = {"Dlib": 0.91, "Facenet": 0.60}


def default_threshold(model_name: str) -> float:
    if model_name in MATCH_THRESHOLDS:
        return MATCH_THRESHOLDS[model_name]
    from deepface.modules.verification import find_threshold

    return 1.0 - float(find_threshold(model_name, "cosine"))


def identity_hash(secret: bytes, embedding: np.ndarray) -> str:
    """SHA-256 over the unit embedding, salted with the installation secret.

    Computed once when a person is enrolled and stored; later sightings match to it and are never
    re-hashed. The salt makes the same face give different hashes in different installations.
    """
    vector = np.ascontiguousarray(embedding, dtype="<f4")
    return hashlib.sha256(secret + vector.tobytes()).hexdigest()


@dataclass(frozen=True)
class Match:
    identity_hash: str
    name: Optional[str]
    similarity: float


class AlreadyEnrolled(Exception):
    def __init__(self, match: Match) -> None:
        super().__init__(f"already enrolled as {match.identity_hash}")
        self.match = match


class Matcher:
    """Answers "who is this?" for embeddings of one model."""

    def __init__(self, store: FaceStore, model_name: str, threshold: Optional[float] = None) -> None:
        self.store = store
        self.model_name = model_name
        self.threshold = default_threshold(model_name) if threshold is None else float(threshold)

    def identify(self, embeddings: np.ndarray) -> list[Optional[Match]]:
        """One match (or None) per row, never giving one identity to two faces.

        Pairs above the threshold are taken best first, so when two faces resemble the same person
        the closer one gets the identity and the other goes on to its next best candidate.
        """
        gallery = self.store.gallery(self.model_name)
        count = len(embeddings)
        if count == 0 or len(gallery.hashes) == 0:
            return [None] * count
        scores = _scores(gallery, np.asarray(embeddings, dtype=np.float32))
        matches: list[Optional[Match]] = [None] * count
        taken: set[int] = set()
        faces, people = np.nonzero(scores >= self.threshold)
        for face, person in sorted(zip(faces, people), key=lambda fp: -scores[fp[0], fp[1]]):
            if matches[face] is None and person not in taken:
                taken.add(person)
                matches[face] = Match(gallery.hashes[person], gallery.names[person], float(scores[face, person]))
        return matches

    def enroll(self, embedding: np.ndarray, name: Optional[str] = None, email_hash: Optional[str] = None) -> Identity:
        """Store a new identity for embedding, or raise AlreadyEnrolled if it matches one."""
        with self.store.transaction():
            existing = self.identify(embedding[np.newaxis, :])[0]
            if existing is not None:
                raise AlreadyEnrolled(existing)
            identity = Identity(
                hash=identity_hash(self.store.secret, embedding),
                model=self.model_name,
                name=name or None,
                embeddings=(np.asarray(embedding, dtype=np.float32),),
                email_hash=email_hash,
            )
            self.store.add(identity)
        log.info("enrolled a new identity %s", identity.hash[:12])
        return identity

    def verify(self, identity: Identity, embedding: np.ndarray) -> Optional[Match]:
        """Whether embedding is this one person (a login: 1:1, not "who among everyone"), by the
        same rules as identify(): at the threshold, and not closer to a face marked "not this person"."""
        if identity.model != self.model_name:
            return None
        query = np.asarray(embedding, dtype=np.float32)[np.newaxis, :]
        similarity = float(_scores(gallery_of([identity]), query)[0, 0])
        if similarity < self.threshold:
            return None
        return Match(identity.hash, identity.name, similarity)

    def reject(self, identity_hash: str, embedding: np.ndarray) -> Identity:
        """Record that embedding is "not this person", so that face stops matching the identity."""
        with self.store.transaction():
            identity = self.store.get(identity_hash)
            if identity is None:
                raise KeyError(identity_hash)
            vector = np.asarray(embedding, dtype=np.float32)
            return self.store.update(identity_hash, rejections=identity.rejections + (vector,))

    def similarity(self, first: np.ndarray, second: np.ndarray) -> float:
        return float(np.dot(first, second) / max(np.linalg.norm(first) * np.linalg.norm(second), 1e-12))


def _scores(gallery: Gallery, queries: np.ndarray) -> np.ndarray:
    """(n, people): each query's best similarity to each person, or -1 where the query is at least as
    close to a face marked "not this person" for them as to the person."""
    people = len(gallery.hashes)
    scores = _best_per_identity(queries, gallery.vectors, gallery.owners, people)
    if len(gallery.rejections):
        rejected = _best_per_identity(queries, gallery.rejections, gallery.rejection_owners, people)
        scores = np.where(rejected >= scores, -1.0, scores)
    return scores


def _best_per_identity(queries: np.ndarray, rows: np.ndarray, owners: np.ndarray, people: int) -> np.ndarray:
    """(n, people) matrix: each query's best cosine similarity over each person's rows."""
    row_scores = queries @ rows.T  # (n, rows)
    best = np.full((people, len(queries)), -1.0, dtype=np.float32)
    np.maximum.at(best, owners, row_scores.T)
    return best.T
