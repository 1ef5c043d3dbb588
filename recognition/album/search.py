"""Searching an album's faces by a face: one matrix product over every indexed face, best face per photo;
in a video, its best appearance, with the others that match too.

The faces of all albums are stacked in one float32 matrix (rebuilt when an index changes), so a search
is a single matrix-vector product: about 13 MB read per 100,000 faces of 128 dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Optional, Sequence

import numpy as np

from recognition.album.index import PhotoEntry
from recognition.album.people import FaceRef

MAX_MATCHES = 500  # photos a search answers at most (a search by photo may ask for fewer: 'limit')
MAX_APPEARANCES = 20  # of one video's matching appearances, the best this many are listed


@dataclass(frozen=True)
class Appearance:
    """A face's time in view in a video: came, left, seen best (seconds), and its box when seen best."""
    start: float
    end: float
    at: float
    box: list[int]
    similarity: float

    def to_json(self) -> dict:
        return {"at": round(self.at, 2), "start": round(self.start, 2), "end": round(self.end, 2), "box": self.box,
                "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class AlbumMatch:
    album: str
    photo: str  # relative to its album
    similarity: float
    box: list[int]  # the matching face, in the photo's pixels
    appearances: Optional[list[Appearance]] = None  # a video's: those that match, best first; None for a photo

    def to_json(self) -> dict:
        if self.appearances is None:
            return {"album": self.album, "photo": self.photo, "similarity": round(self.similarity, 4), "box": self.box}
        best = self.appearances[0]
        return {"album": self.album, "video": self.photo, "similarity": round(self.similarity, 4),
                **best.to_json(), "appearances": [a.to_json() for a in self.appearances]}


class FaceMatrix:
    """Every face of the given albums, ready to search."""

    def __init__(self, albums: Sequence[tuple[str, Sequence[PhotoEntry]]], dimensions: int) -> None:
        rows: list[np.ndarray] = []
        owners: list[tuple[str, PhotoEntry, int]] = []  # (album, photo, face) of each row
        for name, entries in albums:
            for entry in entries:
                if entry.faces and entry.vectors.shape[1] == dimensions:
                    rows.append(entry.vectors)
                    owners.extend((name, entry, face) for face in range(entry.faces))
        self._vectors = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, dimensions), np.float32)
        self._owners = owners
        self.refs = [FaceRef(name, entry.path, face) for name, entry, face in owners]  # row by row
        self._row_of = {ref: row for row, ref in enumerate(self.refs)}

    @property
    def faces(self) -> int:
        return len(self._owners)

    def vectors_of(self, refs: Sequence[FaceRef]) -> np.ndarray:
        """The vectors of these faces (rows in their order); a face not in the matrix is left out."""
        rows = [self._row_of[ref] for ref in refs if ref in self._row_of]
        return self._vectors[rows]

    def search(self, queries: np.ndarray, threshold: float, limit: int = MAX_MATCHES, *,
               leave_out: Collection[FaceRef] = ()) -> list[AlbumMatch]:
        """Photos with a face at least threshold similar to any of the query vectors (rows), each once
        with its best face, best first. Faces in leave_out are not searched: a photo found only by them
        is not found (another face of it may still find it)."""
        if not self._owners or len(queries) == 0:
            return []
        similarity = (self._vectors @ np.asarray(queries, np.float32).T).max(axis=1)
        left_out = [self._row_of[ref] for ref in leave_out if ref in self._row_of]
        similarity[left_out] = -np.inf
        candidates = np.flatnonzero(similarity >= threshold)
        best: dict[tuple[str, str], list[int]] = {}  # per photo or video, its matching rows, best first
        videos = 0
        for row in candidates[np.argsort(-similarity[candidates], kind="stable")]:
            name, entry, _ = self._owners[row]
            rows = best.get((name, entry.path))
            if rows is None:
                if len(best) >= limit:
                    if not videos:
                        break
                    continue  # a new photo past the limit; a video already listed may still gain appearances
                best[(name, entry.path)] = rows = []
                videos += entry.is_video
            rows.append(int(row))
        matches = []
        for (name, path), rows in best.items():
            _, entry, face = self._owners[rows[0]]
            appearances = None
            if entry.times is not None:
                appearances = [_appearance(entry, entry.times, self._owners[row][2], float(similarity[row]))
                               for row in rows[:MAX_APPEARANCES]]
            matches.append(AlbumMatch(name, path, float(similarity[rows[0]]), entry.pixel_box(face), appearances))
        return matches


def _appearance(entry: PhotoEntry, times: np.ndarray, face: int, similarity: float) -> Appearance:
    start, end, at = (float(v) for v in times[face])
    return Appearance(start, end, at, entry.pixel_box(face), similarity)
