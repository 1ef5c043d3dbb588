"""Grouping an album's faces into people, in the spirit of DBSCAN.

Two faces are neighbours when their similarity reaches the threshold. A face with at least
min_neighbors neighbours is a core face: it starts or extends a group, through its neighbours; a face
with fewer joins the group of its most similar core neighbour, and a face with none stays unassigned.
Links are taken strongest first, and two groups are never joined when they share a photo: one photo
never shows one person twice, so two faces of a photo are never one person; and two groups are joined
only when their average faces are alike too (at the threshold), so one face that looks a bit like two
people cannot chain them into one group. The threshold is the model's matching threshold; a face needs
two neighbours to be a core face, so a single chance match starts no group.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Hashable, Optional, Sequence

import numpy as np

BLOCK = 2048  # faces compared at once: the similarity matrix is never held whole


@dataclass(frozen=True)
class FaceRef:
    album: str
    photo: str
    face: int  # its number within the photo's faces

    @property
    def key(self) -> str:
        return f"{self.album}/{self.photo}#{self.face}"


@dataclass(frozen=True)
class Person:
    id: str  # stable while its first face (in album, path, face order) stays in it, or once corrected
    faces: tuple[FaceRef, ...]
    name: Optional[str] = None  # given by a person (corrections.py)
    identity: Optional[str] = None  # the enrolled identity it was linked to
    hidden: bool = False  # hidden by a person: not listed, not found by album searches


def group_people(vectors: np.ndarray, refs: Sequence[FaceRef], threshold: float, *, min_neighbors: int = 2,
                 places: Optional[Sequence[Hashable]] = None) -> tuple[list[Person], list[FaceRef]]:
    """(people, largest first; faces in no group). places: where each face was seen, two faces of one place
    never being one person (by default its photo; a video's appearances are each a place of their own,
    since one person appears in a video many times)."""
    count = len(refs)
    if count == 0:
        return [], []
    vectors = np.asarray(vectors, np.float32)
    sources, targets, strengths = [], [], []
    for start in range(0, count, BLOCK):
        similarity = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(similarity >= threshold)
        rows_global = rows + start
        upper = cols > rows_global
        sources.append(rows_global[upper])
        targets.append(cols[upper])
        strengths.append(similarity[rows[upper], cols[upper]])
    source, target, strength = np.concatenate(sources), np.concatenate(targets), np.concatenate(strengths)
    neighbours = np.bincount(source, minlength=count) + np.bincount(target, minlength=count)
    core = neighbours >= min_neighbors
    photo_of = list(places) if places is not None else [(ref.album, ref.photo) for ref in refs]
    parent = list(range(count))
    photos = [{photo_of[i]} for i in range(count)]
    sums = vectors.astype(np.float64)  # per group root: the sum of its faces, whose direction is its average

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    joined = np.zeros(count, bool)  # border faces that joined a group: they join one only
    for edge in np.argsort(-strength, kind="stable"):
        a, b = int(source[edge]), int(target[edge])
        if not (core[a] or core[b]):
            continue  # two border faces do not make a group between them
        border = None if core[a] and core[b] else (a if not core[a] else b)
        if border is not None and joined[border]:
            continue  # its strongest link to a core face came first
        ra, rb = root(a), root(b)
        if ra == rb or photos[ra] & photos[rb]:
            continue
        average = float(sums[ra] @ sums[rb]) / (np.linalg.norm(sums[ra]) * np.linalg.norm(sums[rb]) or 1.0)
        if average < threshold:
            continue
        parent[rb] = ra
        photos[ra] |= photos[rb]
        sums[ra] += sums[rb]
        if border is not None:
            joined[border] = True
    members: dict[int, list[int]] = {}
    for i in range(count):
        members.setdefault(root(i), []).append(i)
    people: list[Person] = []
    alone: list[FaceRef] = []
    for group in members.values():
        if len(group) < 2:
            alone.extend(refs[i] for i in group)
            continue
        faces = tuple(sorted((refs[i] for i in group), key=lambda r: (r.album, r.photo, r.face)))
        people.append(Person(hashlib.sha256(faces[0].key.encode()).hexdigest()[:12], faces))
    people.sort(key=lambda p: (-len(p.faces), p.id))
    return people, alone
