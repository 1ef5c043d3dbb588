"""Plain value types passed between the recognition parts, the worker and the web app."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face rectangle in pixel coordinates of the image it was found in."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class FaceObservation:
    """One face seen in one image: where, its unit embedding, and whom it matched (if anyone)."""

    box: Box
    embedding: np.ndarray
    identity_hash: Optional[str] = None
    name: Optional[str] = None
    similarity: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.identity_hash is not None

    def to_json(self) -> dict:
        """The public view of the face; the embedding stays in memory and is never sent."""
        return {
            "hash": self.identity_hash,
            "name": self.name,
            "known": self.known,
            "box": self.box.as_list(),
            "similarity": None if self.similarity is None else round(float(self.similarity), 4),
        }


def largest(faces, *, known: Optional[bool] = None):
    """The face with the largest box, optionally only known or only unknown ones; None if none."""
    candidates = [f for f in faces if known is None or f.known == known]
    return max(candidates, key=lambda f: f.box.area, default=None)
