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


def centre_inside(inner: Box, outer: Box) -> bool:
    """Whether inner's centre lies inside outer: the same face, found twice (by two cascades, say)."""
    cx, cy = inner.x + inner.w / 2, inner.y + inner.h / 2
    return outer.x <= cx <= outer.x + outer.w and outer.y <= cy <= outer.y + outer.h


@dataclass(frozen=True)
class Detection:
    box: Box
    profile: bool = False  # found by the profile cascade: followed, shown and blurred, never embedded or named


@dataclass(frozen=True)
class FaceObservation:
    """One face seen in one image: where, its unit embedding, and whom it matched (if anyone).

    On camera it is a track's face: the embedding is the track's best recent view (None for a face seen
    only in profile), the identity the one its sightings voted for."""

    box: Box
    embedding: Optional[np.ndarray]
    identity_hash: Optional[str] = None
    name: Optional[str] = None
    similarity: Optional[float] = None
    track: Optional[int] = None  # the same while the face is followed from frame to frame
    visitor: Optional[str] = None  # an unknown face's anonymous id, kept in memory only
    profile: bool = False
    quality: Optional[float] = None
    attributes: Optional[dict] = None  # age, gender and emotion as JSON, with --attributes

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
            "track": self.track,
            "visitor": self.visitor,
            "profile": self.profile,
            **(self.attributes or {}),
        }


def largest(faces, *, known: Optional[bool] = None):
    """The face with the largest box, optionally only known or only unknown ones; None if none."""
    candidates = [f for f in faces if known is None or f.known == known]
    return max(candidates, key=lambda f: f.box.area, default=None)
