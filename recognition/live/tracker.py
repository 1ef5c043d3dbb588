"""Following faces from frame to frame: each detection joins the track whose last box it overlaps most.

A track survives a few frames without a detection (a blink, a turn of the head, a detector miss), so
its identity, decided from many sightings, does not start again each time the detector hiccups.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from recognition.faces import Box, Detection
from recognition.store.interface import Match


@dataclass(frozen=True)
class Sighting:
    """One embedded view of a track's face, and whom it matched on its own."""

    at: float
    embedding: np.ndarray
    quality: float  # 0..1: size x sharpness x frontal-ness (models/quality.py)
    match: Optional[Match]


@dataclass
class Track:
    id: int
    box: Box
    profile: bool
    seen_at: float
    misses: int = 0  # analysed frames in a row without a detection
    hits: int = 1  # detections so far
    sightings: deque = field(default_factory=lambda: deque(maxlen=12))
    identity: Optional[Match] = None  # decided by voting, with hysteresis
    embedded_at: float = float("-inf")
    visitor: Optional[str] = None
    signature: Optional[np.ndarray] = None  # a tiny picture of the face when last embedded (see recognizer)
    swept_at: Optional[float] = None  # when the CNN sweep last found this face (see sweeping.py)
    look: Optional[np.ndarray] = None  # signature() of the face where a cascade last found it

    @property
    def best(self) -> Optional[Sighting]:
        """The best-quality recent sighting: what enrolling this face stores."""
        return max(self.sightings, key=lambda s: s.quality, default=None)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    height = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if width <= 0 or height <= 0:
        return 0.0
    shared = width * height
    return shared / float(a.area + b.area - shared)


DUPLICATE = 0.4  # overlap of a new box with a face followed in the same frame above which it is that face


class Tracker:
    """min_overlap trades swapped identities when people pass close (lower values) against tracks
    broken by fast movement (higher values); max_misses is how many analysed frames a face may go
    undetected and keep its track."""

    def __init__(self, *, min_overlap: float = 0.25, max_misses: int = 3) -> None:
        self._min_overlap = min_overlap
        self._max_misses = max_misses
        self._ids = itertools.count(1)
        self.tracks: list[Track] = []
        self._seen: dict[int, Detection] = {}  # id(track) -> its detection in the frame being joined

    def join(self, detections: list[Detection], now: float) -> None:
        """Assign detections to the tracks not yet seen in this frame and start tracks for the rest. A
        frame's detections may come in several parts (frontal faces first, then profiles); close() ends it."""
        free = [track for track in self.tracks if id(track) not in self._seen]
        pairs = sorted(((overlap(t.box, d.box), ti, di) for ti, t in enumerate(free)
                        for di, d in enumerate(detections)), reverse=True)
        taken_tracks, taken_detections = set(), set()
        for score, ti, di in pairs:
            if score < self._min_overlap:
                break
            if ti not in taken_tracks and di not in taken_detections:
                taken_tracks.add(ti)
                taken_detections.add(di)
                track, detection = free[ti], detections[di]
                track.box, track.profile, track.seen_at, track.misses = detection.box, detection.profile, now, 0
                track.hits += 1
                self._seen[id(track)] = detection
        seen = [track for track in self.tracks if id(track) in self._seen]
        for di, detection in enumerate(detections):
            if di not in taken_detections:
                # A second box on a face already followed in this frame (two detector tiles or scales, a
                # profile or the sweep finding it again) is the same face: one face, one track, or one
                # person is shown twice (named, and again as a stranger).
                if any(overlap(track.box, detection.box) >= DUPLICATE for track in seen):
                    continue
                track = Track(next(self._ids), detection.box, detection.profile, now)
                self.tracks.append(track)
                self._seen[id(track)] = detection
                seen.append(track)

    def joined(self) -> list[tuple[Track, Detection]]:
        """The tracks seen so far in this frame, with their detections."""
        return [(track, self._seen[id(track)]) for track in self.tracks if id(track) in self._seen]

    def close(self) -> list[tuple[Track, Optional[Detection]]]:
        """End the frame: age the tracks not seen in it and drop those missed too often."""
        live = []
        for track in self.tracks:
            detection = self._seen.get(id(track))
            if detection is None:
                track.misses += 1
            if track.misses <= self._max_misses:
                live.append((track, detection))
        self.tracks = [track for track, _ in live]
        self._seen = {}
        return live


SAME_LOOK = 0.6  # correlation of two face thumbnails below which the face is taken to have changed
STILL = 0.9  # correlation above which a face has not moved: no need to look for it again


def signature(image: np.ndarray, box) -> np.ndarray:
    """A 16x16 grey thumbnail of the face, zero-mean and unit-length: cheap to compare frame to frame."""
    crop = image[max(0, box.y) : box.y + box.h, max(0, box.x) : box.x + box.w]
    if crop.size == 0:
        return np.zeros(256, dtype=np.float32)
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    return small / max(float(np.linalg.norm(small)), 1e-6)
