"""Who a face in no person might be: the people its vector most resembles, for a person to confirm.

Each person is compared by its mean face (the direction of the sum of its faces' unit vectors), not by
its best single face: a mean averages out the pose and light of any one photo, and one look-alike photo
in a large group cannot make it win, so a face near the mean is near the person. Every face in no person
is compared with every person's mean in one matrix product per block of faces.

The floor trades missed suggestions against wrong ones: a mean is closer to its own faces than any two
faces are to each other, so the floor sits a little under the album's matching threshold (a face just
under that bar to each face of a person can still be near its mean), and well above strangers (about
0.8 for Dlib at its threshold of 0.93, on the fixture photos).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from recognition.album.people import FaceRef, Person

FLOOR_UNDER_THRESHOLD = 0.03  # candidates reach the album threshold less this
MAX_CANDIDATES = 5  # people listed per face
BLOCK = 2048  # faces compared at once


@dataclass(frozen=True)
class Candidate:
    person: Person
    similarity: float  # the face's cosine similarity to the person's mean face


@dataclass(frozen=True)
class Suggestion:
    face: FaceRef
    candidates: tuple[Candidate, ...]  # best first, never empty


def mean_faces(people: Sequence[Person], vectors_of: Callable[[Sequence[FaceRef]], np.ndarray],
               dimensions: int) -> np.ndarray:
    """One unit vector per person (rows in people's order): the direction of its faces' sum."""
    means = np.zeros((len(people), dimensions), np.float32)
    for row, person in enumerate(people):
        total = vectors_of(person.faces).sum(axis=0)
        means[row] = total / (np.linalg.norm(total) or 1.0)
    return means


def suggest(faces: Sequence[FaceRef], vectors: np.ndarray, people: Sequence[Person], means: np.ndarray,
            floor: float, *, not_these: frozenset = frozenset(), limit: int = 20,
            per_face: int = MAX_CANDIDATES) -> list[Suggestion]:
    """For each face (rows of vectors), the people whose mean is at floor or more, best first; a
    (face, person id) pair in not_these was said to be wrong and is never suggested. The limit
    suggestions whose best candidate is most alike first (the surest to confirm); faces with no
    candidate are left out."""
    if not faces or not people:
        return []
    found: list[Suggestion] = []
    for start in range(0, len(faces), BLOCK):
        similarity = np.asarray(vectors[start:start + BLOCK], np.float32) @ means.T
        for offset, row in enumerate(similarity):
            face = faces[start + offset]
            order = np.argsort(-row, kind="stable")
            candidates: list[Candidate] = []
            for column in order:
                if row[column] < floor or len(candidates) == per_face:
                    break
                if (face, people[column].id) not in not_these:
                    candidates.append(Candidate(people[column], float(row[column])))
            if candidates:
                found.append(Suggestion(face, tuple(candidates)))
    found.sort(key=lambda s: (-s.candidates[0].similarity, s.face.album, s.face.photo, s.face.face))
    return found[:limit]
