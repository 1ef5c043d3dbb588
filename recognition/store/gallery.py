"""Vectors ready for matching: immutable snapshots for readers, and the table the writer keeps them in.

The writer appends rows past the end that published snapshots can see, then publishes a new snapshot;
a reader holding an older one keeps a consistent view and never waits. Rows of a removed identity are
zeroed in place, so even a snapshot taken before the removal stops matching that person at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from recognition.store.identity import Identity


@dataclass(frozen=True)
class Member:
    hash: str
    name: Optional[str]


@dataclass(frozen=True)
class Gallery:
    """One model's identities as matrices: rows of unit vectors and the member slot each belongs to."""

    vectors: np.ndarray  # (k, d) float32 unit rows
    owners: np.ndarray  # (k,) slot of each row
    rejections: np.ndarray  # (r, d) faces said to be "not" their owner
    rejection_owners: np.ndarray  # (r,)
    members: Sequence[Optional[Member]]  # slot -> member; None once removed. Read live: renames show at once.

    def member(self, slot: int) -> Optional[Member]:
        return self.members[slot] if 0 <= slot < len(self.members) else None

    @property
    def empty(self) -> bool:
        return len(self.vectors) == 0


def gallery_of(identities: Sequence[Identity]) -> Gallery:
    """A gallery built at once from a few identities (a 1:1 check, a test); all of one model."""
    table = GalleryTable(identities[0].embeddings[0].shape[0] if identities else 0)
    for identity in identities:
        table.add(Member(identity.hash, identity.name), np.vstack(identity.embeddings),
                  np.vstack(identity.rejections) if identity.rejections else None)
    return table.publish()


class Rows:
    """A matrix that grows by doubling; rows below the published count are never moved or reused."""

    def __init__(self, dims: int, capacity: int = 256) -> None:
        self.matrix = np.zeros((capacity, dims), dtype=np.float32)
        self.owners = np.zeros(capacity, dtype=np.int64)
        self.count = 0
        self.dead = 0

    def extend(self, vectors: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Append rows; returns their indices."""
        needed = self.count + len(vectors)
        if needed > len(self.matrix):
            capacity = max(needed, 2 * len(self.matrix))
            # New arrays: snapshots of the old ones stay valid and unchanged.
            matrix = np.zeros((capacity, self.matrix.shape[1]), dtype=np.float32)
            matrix[: self.count] = self.matrix[: self.count]
            owner_array = np.zeros(capacity, dtype=np.int64)
            owner_array[: self.count] = self.owners[: self.count]
            self.matrix, self.owners = matrix, owner_array
        self.matrix[self.count : needed] = vectors
        self.owners[self.count : needed] = owners
        indices = np.arange(self.count, needed)
        self.count = needed
        return indices

    def zero(self, indices) -> None:
        self.matrix[list(indices)] = 0.0
        self.dead += len(indices)

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.matrix[: self.count], self.owners[: self.count]

    def compacted(self, live: dict[int, list[int]]) -> tuple["Rows", dict[int, list[int]]]:
        """A copy holding only the rows in live (slot -> row indices), and their new indices."""
        fresh = Rows(self.matrix.shape[1], max(256, 2 * (self.count - self.dead)))
        moved = {}
        for slot, indices in live.items():
            moved[slot] = list(fresh.extend(self.matrix[indices], np.full(len(indices), slot)))
        return fresh, moved


class GalleryTable:
    """One model's vectors and rejections, changed only by the store's writer, read through publish()."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self._vectors = Rows(dims)
        self._rejections = Rows(dims)
        self._vector_rows: dict[int, list[int]] = {}
        self._rejection_rows: dict[int, list[int]] = {}
        self._members: list[Optional[Member]] = []
        self.snapshot = self.publish()

    def add(self, member: Member, vectors: np.ndarray, rejections: Optional[np.ndarray] = None) -> int:
        slot = len(self._members)
        self._members.append(member)
        self._vector_rows[slot] = list(self._vectors.extend(vectors, np.full(len(vectors), slot)))
        if rejections is not None and len(rejections):
            self._rejection_rows[slot] = list(self._rejections.extend(rejections, np.full(len(rejections), slot)))
        return slot

    def add_bulk(self, members: list[Member], vectors: np.ndarray, counts: np.ndarray,
                 rejections: np.ndarray, rejection_counts: np.ndarray) -> list[int]:
        """Many identities at once (opening the store): one copy per matrix, not one per identity."""
        first = len(self._members)
        slots = np.arange(first, first + len(members))
        self._members.extend(members)
        rows = self._vectors.extend(vectors, np.repeat(slots, counts))
        for slot, chunk in zip(slots.tolist(), np.split(rows, np.cumsum(counts)[:-1])):
            self._vector_rows[slot] = chunk.tolist()
        if len(rejections):
            rows = self._rejections.extend(rejections, np.repeat(slots, rejection_counts))
            for slot, chunk in zip(slots.tolist(), np.split(rows, np.cumsum(rejection_counts)[:-1])):
                if len(chunk):
                    self._rejection_rows[slot] = chunk.tolist()
        return slots.tolist()

    def vectors_of(self, slot: int) -> np.ndarray:
        return self._vectors.matrix[self._vector_rows[slot]].copy()

    def rejections_of(self, slot: int) -> np.ndarray:
        return self._rejections.matrix[self._rejection_rows.get(slot, [])].copy()

    def rename(self, slot: int, name: Optional[str]) -> None:
        self._members[slot] = Member(self._members[slot].hash, name)

    def add_rejection(self, slot: int, vector: np.ndarray) -> None:
        rows = self._rejections.extend(vector[np.newaxis, :], np.array([slot]))
        self._rejection_rows.setdefault(slot, []).extend(rows.tolist())

    def remove(self, slot: int) -> None:
        self._members[slot] = None
        self._vectors.zero(self._vector_rows.pop(slot))
        self._rejections.zero(self._rejection_rows.pop(slot, []))
        for rows, live in ((self._vectors, self._vector_rows), (self._rejections, self._rejection_rows)):
            if rows.dead > 4096 and rows.dead > rows.count // 4:  # reclaim memory; snapshots keep the old copy
                fresh, moved = rows.compacted(live)
                live.update(moved)
                if rows is self._vectors:
                    self._vectors = fresh
                else:
                    self._rejections = fresh

    def publish(self) -> Gallery:
        vectors, owners = self._vectors.view()
        rejections, rejection_owners = self._rejections.view()
        self.snapshot = Gallery(vectors, owners, rejections, rejection_owners, self._members)
        return self.snapshot
