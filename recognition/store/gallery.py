"""Vectors ready for matching: immutable snapshots for readers, and the table the writer keeps them in.

The writer appends rows past the end that published snapshots can see, then publishes a new snapshot;
a reader holding an older one keeps a consistent view and never waits. Rows of a removed identity are
zeroed in place, so even a snapshot taken before the removal stops matching that person at once.
Each member's rows are one contiguous run, kept as (start, count) per member slot: a million people
cost a few arrays, not a million Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from recognition.matching.approximate import APPROXIMATE_FROM, IndexSlot
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
    hashes: Sequence[Optional[str]]  # slot -> identity hash, None once removed (shared with the table: live)
    names: Sequence[Optional[str]]  # slot -> name (live, so a rename shows at once)
    # slot -> how many distinct looks its vectors are (live; the matcher's bar rises with it)
    counts: Sequence[int] = ()
    approximate: Optional[IndexSlot] = None  # the approximate index of these rows' numbering, once one is built

    def vector_count(self, slot: int) -> int:
        return self.counts[slot] if 0 <= slot < len(self.counts) else 1

    def member(self, slot: int) -> Optional[Member]:
        identity_hash = self.hashes[slot] if 0 <= slot < len(self.hashes) else None
        return Member(identity_hash, self.names[slot]) if identity_hash is not None else None

    @property
    def empty(self) -> bool:
        return len(self.vectors) == 0


SAME_LOOK = 0.97  # vectors at least this similar are one look: a stranger close to one is close to both


def distinct_looks(vectors: np.ndarray) -> int:
    """How many independent chances a person's vectors give a stranger: near-copies (a photo and its
    re-encoding, two frames of one moment) count once, so they do not raise the matcher's bar."""
    looks: list[np.ndarray] = []
    for vector in vectors:
        if not looks or float(np.max(np.stack(looks) @ vector)) < SAME_LOOK:
            looks.append(vector)
    return max(1, len(looks))


def gallery_of(identities: Sequence[Identity]) -> Gallery:
    """A gallery built at once from a few identities (a 1:1 check, a test); all of one model."""
    table = GalleryTable(identities[0].embeddings[0].shape[0] if identities else 0)
    for identity in identities:
        table.add(Member(identity.hash, identity.name), np.vstack(identity.embeddings),
                  np.vstack(identity.rejections) if identity.rejections else None)
    return table.publish()


def _runs(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The row indices of runs [start, start + count), concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + np.arange(total) - offsets


class Rows:
    """A matrix of runs of rows, one run per member slot, that grows by doubling. Rows below the
    published count are never moved or reused; dead (zeroed) ones are reclaimed by compacted()."""

    def __init__(self, dims: int, capacity: int = 256) -> None:
        self.matrix = np.zeros((capacity, dims), dtype=np.float32)
        self.owners = np.zeros(capacity, dtype=np.int64)
        self.count = 0
        self.dead = 0
        self.start: list[int] = []  # per slot
        self.length: list[int] = []  # per slot; 0 for none

    def extend_slots(self, vectors: np.ndarray, counts: np.ndarray, first_slot: int) -> None:
        """Runs for new slots first_slot, first_slot + 1, ...: counts[i] rows each, in order."""
        slots = np.arange(first_slot, first_slot + len(counts))
        starts = self._append(vectors, np.repeat(slots, counts)) + np.cumsum(counts) - counts
        self.start.extend(starts.tolist())
        self.length.extend(counts.tolist())

    def replace_run(self, slot: int, vectors: np.ndarray) -> None:
        """Give slot a new run, how a member's rows change after creation. The old rows stay as they are
        (repeats of the new ones, harmless to a snapshot) until compacted() drops them."""
        self.dead += self.length[slot]
        self.start[slot] = self._append(vectors, np.full(len(vectors), slot))
        self.length[slot] = len(vectors)

    def zero_run(self, slot: int) -> None:
        start, length = self.start[slot], self.length[slot]
        self.matrix[start : start + length] = 0.0
        self.dead += length
        self.length[slot] = 0

    def run(self, slot: int) -> np.ndarray:
        start = self.start[slot]
        return self.matrix[start : start + self.length[slot]].copy()

    def runs(self, slots: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rows per slot, the rows of all of them in order), in one copy."""
        starts = np.fromiter((self.start[s] for s in slots), np.int64, len(slots))
        counts = np.fromiter((self.length[s] for s in slots), np.int64, len(slots))
        return counts, self.matrix[_runs(starts, counts)]

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.matrix[: self.count], self.owners[: self.count]

    def compacted(self) -> "Rows":
        """A copy without the dead rows (snapshots keep the old matrix)."""
        starts, counts = np.asarray(self.start, dtype=np.int64), np.asarray(self.length, dtype=np.int64)
        fresh = Rows(self.matrix.shape[1], max(256, 2 * (self.count - self.dead)))
        fresh.extend_slots(self.matrix[_runs(starts, counts)], counts, 0)
        return fresh

    def _append(self, vectors: np.ndarray, owners: np.ndarray) -> int:
        needed = self.count + len(vectors)
        if needed > len(self.matrix):
            capacity = max(needed, 2 * len(self.matrix))
            # New arrays: snapshots of the old ones stay valid and unchanged. Rows past count are never
            # read, so they need no zeroing.
            matrix = np.empty((capacity, self.matrix.shape[1]), dtype=np.float32)
            matrix[: self.count] = self.matrix[: self.count]
            owner_array = np.zeros(capacity, dtype=np.int64)
            owner_array[: self.count] = self.owners[: self.count]
            self.matrix, self.owners = matrix, owner_array
        first = self.count
        self.matrix[first:needed] = vectors
        self.owners[first:needed] = owners
        self.count = needed
        return first


class GalleryTable:
    """One model's vectors and rejections, changed only by the store's writer, read through publish()."""

    def __init__(self, dims: int, approximate_from: int = APPROXIMATE_FROM) -> None:
        self.dims = dims
        self._approximate_from = approximate_from
        self._vectors = Rows(dims)
        self._slot = IndexSlot(approximate_from)
        self._rejections = Rows(dims)
        self._hashes: list[Optional[str]] = []
        self._names: list[Optional[str]] = []
        self._distinct: list[int] = []  # per slot: distinct_looks() of its vectors
        self.snapshot = self.publish()

    def add(self, member: Member, vectors: np.ndarray, rejections: Optional[np.ndarray] = None) -> int:
        rejections = rejections if rejections is not None else np.zeros((0, self.dims), np.float32)
        return self.add_bulk([member.hash], [member.name], vectors, np.array([len(vectors)]),
                             rejections, np.array([len(rejections)]))

    def add_bulk(self, hashes: list[str], names: list[Optional[str]], vectors: np.ndarray, counts: np.ndarray,
                 rejections: np.ndarray, rejection_counts: np.ndarray) -> int:
        """Many members at once (opening the store: one copy per matrix); returns the first one's slot."""
        first = len(self._hashes)
        self._vectors.extend_slots(vectors, np.asarray(counts, dtype=np.int64), first)
        self._rejections.extend_slots(rejections, np.asarray(rejection_counts, dtype=np.int64), first)
        self._names.extend(names)
        counts = np.asarray(counts, dtype=np.int64)
        if not counts.size or counts.max() == 1:  # one vector each, as most people have: no work
            self._distinct.extend([1] * len(counts))
        else:
            ends = np.cumsum(counts)
            self._distinct.extend(1 if count == 1 else distinct_looks(vectors[end - count : end])
                                  for count, end in zip(counts.tolist(), ends.tolist()))
        self._hashes.extend(hashes)  # last: a slot is a member only once its rows are in place
        return first

    def vectors_of(self, slot: int) -> np.ndarray:
        return self._vectors.run(slot)

    def rejections_of(self, slot: int) -> np.ndarray:
        return self._rejections.run(slot)

    def gather(self, slots: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vector counts, vectors, rejection counts, rejections) of members, in one copy each."""
        return (*self._vectors.runs(slots), *self._rejections.runs(slots))

    def rename(self, slot: int, name: Optional[str]) -> None:
        self._names[slot] = name

    def add_vectors(self, slot: int, vectors: np.ndarray) -> None:
        self._vectors.replace_run(slot, np.vstack([self._vectors.run(slot), vectors]))
        self._distinct[slot] = distinct_looks(self._vectors.run(slot))
        self._reclaim()

    def add_rejection(self, slot: int, vector: np.ndarray) -> None:
        self._rejections.replace_run(slot, np.vstack([self._rejections.run(slot), vector[np.newaxis, :]]))
        self._reclaim()

    def remove(self, slot: int) -> None:
        self._hashes[slot] = None
        self._vectors.zero_run(slot)
        self._rejections.zero_run(slot)
        self._reclaim()

    def _reclaim(self) -> None:
        """Drop dead rows once they are a quarter of a matrix; snapshots keep the old copy."""
        if self._vectors.dead > 4096 and self._vectors.dead > self._vectors.count // 4:
            self._vectors = self._vectors.compacted()
            self._slot = IndexSlot(self._approximate_from)  # rows renumbered: the old index no longer applies
        if self._rejections.dead > 1024 and self._rejections.dead > self._rejections.count // 4:
            self._rejections = self._rejections.compacted()

    def publish(self) -> Gallery:
        vectors, owners = self._vectors.view()
        rejections, rejection_owners = self._rejections.view()
        self._slot.consider(vectors)
        self.snapshot = Gallery(vectors, owners, rejections, rejection_owners, self._hashes, self._names,
                                self._distinct, self._slot)
        return self.snapshot
