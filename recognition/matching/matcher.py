"""Matching embeddings against the store by cosine similarity, and enrolling new identities."""
from __future__ import annotations

import hashlib
import logging
from typing import Optional, Sequence

import numpy as np

from recognition.matching.calibration import impostors_of, required_similarity
from recognition.matching.search import candidates
from recognition.store.gallery import Gallery, gallery_of
from recognition.store.identity import Identity
from recognition.store.interface import Candidate, Enrolled, FaceStore, Match

log = logging.getLogger(__name__)

# Cosine similarity at or above which a face is called a person with one vector, per model (with more
# vectors the bar rises: calibration.py). Raising a threshold trades false accepts (a stranger named
# as someone: the error that matters) for false rejects (a known person shown as unknown). Dlib's is
# DeepFace's published value (cosine distance 0.07): on photos the fixtures do not have, 0.91 let 3 of
# 300 pairs of strangers through, and on the fixtures and their camera-like variants 0.93 names no
# stranger (the closest pair of different people: 0.908) and still names 97% of known faces from one
# photo. Facenet's is DeepFace's published value (distance 0.40). Other models use the value the model
# process reads from DeepFace (the server process never imports DeepFace).
MATCH_THRESHOLDS = {"Dlib": 0.93, "Facenet": 0.60}


def default_threshold(model_name: str, reported: Optional[float] = None) -> float:
    if model_name in MATCH_THRESHOLDS:
        return MATCH_THRESHOLDS[model_name]
    if reported is None:
        raise ValueError(f"no default threshold is known for {model_name}; pass --threshold")
    return float(reported)


def identity_hash(secret: bytes, embedding: np.ndarray) -> str:
    """SHA-256 over the unit embedding, salted with the installation secret.

    Computed once when a person is enrolled and stored; later sightings match to it and are never
    re-hashed. The salt makes the same face give different hashes in different installations.
    """
    vector = np.ascontiguousarray(embedding, dtype="<f4")
    return hashlib.sha256(secret + vector.tobytes()).hexdigest()


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
        self._impostors = impostors_of(model_name, self.threshold)

    def required(self, vectors: int) -> float:
        """The similarity a face needs to the closest vector of a person with this many vectors."""
        return required_similarity(self.threshold, vectors, self._impostors.mean, self._impostors.spread)

    def _reaching(self, gallery: Gallery, best: dict[int, float]) -> dict[int, float]:
        """Of a query's candidates at the threshold, those that clear their own person's bar."""
        return {slot: score for slot, score in best.items() if score >= self.required(gallery.vector_count(slot))}

    def identify(self, embeddings: np.ndarray) -> list[Optional[Match]]:
        """One match (or None) per row, never giving one identity to two faces.

        Pairs above the threshold are taken best first, so when two faces resemble the same person
        the closer one gets the identity and the other goes on to its next best candidate.
        """
        return self.assign(self.store.gallery(self.model_name), embeddings)  # a snapshot: never waits

    def assign(self, gallery: Gallery, embeddings: np.ndarray) -> list[Optional[Match]]:
        """identify() against a given gallery (the whole store's, or a few people just enrolled)."""
        found = candidates(gallery, np.asarray(embeddings, dtype=np.float32), self.threshold)
        pairs = sorted(((score, face, slot) for face, best in enumerate(found)
                        for slot, score in self._reaching(gallery, best).items()), reverse=True)
        matches: list[Optional[Match]] = [None] * len(found)
        taken: set[int] = set()
        for score, face, slot in pairs:
            member = gallery.member(slot)
            if matches[face] is None and slot not in taken and member is not None:
                taken.add(slot)
                matches[face] = Match(member.hash, member.name, score)
        return matches

    def nearest(self, gallery: Gallery, embeddings: np.ndarray, *,
                floor: Optional[float] = None) -> list[Optional[Match]]:
        """Each row's best match on its own (several rows may name one person): who a face already is.
        With floor, every person at that similarity or more counts, whatever their bar: "is this face
        anyone we have?" (an enrollment's duplicate check) rather than "who is this?"."""
        matches: list[Optional[Match]] = []
        for best in candidates(gallery, embeddings, self.threshold if floor is None else floor):
            match = None
            reaching = self._reaching(gallery, best) if floor is None else best
            for score, slot in sorted(((score, slot) for slot, score in reaching.items()), reverse=True):
                member = gallery.member(slot)
                if member is not None:
                    match = Match(member.hash, member.name, score)
                    break
            matches.append(match)
        return matches

    def ranked(self, embeddings: np.ndarray, limit: int) -> list[list[Match]]:
        """Each row's `limit` closest people, closest first: the candidates identify() names from, found by
        the same search (the approximate index where one is ready, "not this person" applied). Only people
        at the threshold or more are listed, so a stranger's list is empty rather than a list of look-alikes;
        a candidate may still be under their own bar (a person of many looks) or named for another face of
        the frame, so the list says who was close, and identify() alone who is named."""
        gallery = self.store.gallery(self.model_name)  # a snapshot: never waits
        ranked: list[list[Match]] = []
        for best in candidates(gallery, np.asarray(embeddings, dtype=np.float32), self.threshold):
            closest = sorted(best.items(), key=lambda item: item[1], reverse=True)
            members = ((gallery.member(slot), score) for slot, score in closest)
            ranked.append([Match(m.hash, m.name, score) for m, score in members if m is not None][:limit])
        return ranked

    def enroll_many(self, embeddings: np.ndarray, names: Sequence[Optional[str]],
                    email_hashes: Optional[Sequence[Optional[str]]] = None,
                    attributes: Optional[Sequence[Optional[str]]] = None) -> list[Enrolled]:
        """Enroll each embedding unless someone (stored, or earlier in the list) already matches it; one
        atomic operation of the store."""
        emails = email_hashes or [None] * len(embeddings)
        extras = attributes or [None] * len(embeddings)
        batch = [Candidate(identity_hash(self.store.secret, vector), np.asarray(vector, dtype=np.float32), name, email,
                           extra) for vector, name, email, extra in zip(embeddings, names, emails, extras)]
        # Someone already enrolled at the plain threshold is a duplicate, however many vectors they have.
        outcomes = self.store.enroll(self.model_name, batch,
                                     lambda gallery, queries: self.nearest(gallery, queries, floor=self.threshold))
        created = [outcome.created for outcome in outcomes if outcome.created]
        if created:
            log.info("enrolled %d new identities%s", len(created),
                     f" ({created[0].hash[:12]})" if len(outcomes) == 1 else "")
        return outcomes

    def enroll(self, embedding: np.ndarray, name: Optional[str] = None, email_hash: Optional[str] = None,
               attributes: Optional[str] = None) -> Identity:
        """Store a new identity for embedding, or raise AlreadyEnrolled if it matches one."""
        outcome = self.enroll_many(np.asarray(embedding)[np.newaxis, :], [name], [email_hash], [attributes])[0]
        if outcome.existing is not None:
            raise AlreadyEnrolled(outcome.existing)
        if outcome.created is None:  # the store sets exactly one of the two
            raise RuntimeError("the store neither enrolled the face nor said whom it matched")
        return outcome.created

    def verify(self, identity: Identity, embedding: np.ndarray) -> Optional[Match]:
        """Whether embedding is this one person (a login: 1:1, not "who among everyone"), by the
        same rules as identify(): at the threshold, and not closer to a face marked "not this person"."""
        if identity.model != self.model_name:
            return None
        query = np.asarray(embedding, dtype=np.float32)[np.newaxis, :]
        return self.nearest(gallery_of([identity]), query)[0]

    def recheck(self, identity_hash: str, embedding: np.ndarray) -> Optional[Match]:
        """A face matched to identity_hash before that identity changed (renamed, "not this person",
        deleted): its match now, by verify(); None when the identity is gone or no longer matches."""
        identity = self.store.get(identity_hash)
        return self.verify(identity, embedding) if identity is not None else None

    def reject(self, identity_hash: str, embedding: np.ndarray) -> Identity:
        """Record that embedding is "not this person", so that face stops matching the identity."""
        return self.store.add_rejection(identity_hash, embedding)

    def similarity(self, first: np.ndarray, second: np.ndarray) -> float:
        return float(np.dot(first, second) / max(np.linalg.norm(first) * np.linalg.norm(second), 1e-12))
