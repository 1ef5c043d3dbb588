"""Strangers, anonymously: the same unknown face coming back within a few minutes gets the same visitor id.

Visitors live in this process's memory only: never written anywhere, forgotten ttl seconds after they
were last seen, gone on restart. An id is random, so it says nothing about the face.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class _Visitor:
    id: str
    embedding: np.ndarray  # the best view seen so far
    quality: float
    last_seen: float = field(default=0.0)


class VisitorBook:
    """One book for every camera, so a stranger walking from one camera to the next keeps one id.

    threshold: cosine similarity at which two unknown faces count as the same stranger (the matcher's:
    lower would merge different strangers, higher would give one stranger several ids). ttl: seconds
    after which a visitor not seen is forgotten."""

    def __init__(self, threshold: float, *, ttl: float = 300.0, limit: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._visitors: list[_Visitor] = []
        self._lock = threading.Lock()  # each camera's worker thread writes in it

    def __len__(self) -> int:
        return len(self._visitors)

    def visitor_for(self, embedding: np.ndarray, quality: float) -> str:
        """The id of the stranger this face is (a new one if nobody recent is close enough)."""
        with self._lock:
            return self._visitor_for(embedding, quality)

    def _visitor_for(self, embedding: np.ndarray, quality: float) -> str:
        now = self._clock()
        self._visitors = [v for v in self._visitors if now - v.last_seen <= self._ttl]
        match = self._closest(embedding)
        if match is None:
            match = _Visitor(f"v-{secrets.token_hex(4)}", np.asarray(embedding, dtype=np.float32), quality)
            self._visitors.append(match)
            if len(self._visitors) > self._limit:  # a crowd: the longest unseen go first
                self._visitors.sort(key=lambda v: v.last_seen)
                del self._visitors[0]
        elif quality > match.quality:
            match.embedding, match.quality = np.asarray(embedding, dtype=np.float32), quality
        match.last_seen = now
        return match.id

    def _closest(self, embedding: np.ndarray) -> Optional[_Visitor]:
        if not self._visitors:
            return None
        similarities = np.stack([v.embedding for v in self._visitors]) @ np.asarray(embedding, dtype=np.float32)
        best = int(np.argmax(similarities))
        return self._visitors[best] if similarities[best] >= self._threshold else None
