"""Which parts of a streamed frame to pixelate: every face (`all`), or every face not confirmed as a
known person (`unknown`).

It fails closed. Faces are found by the privacy search (shield.py), beside the stream and independent
of recognition; a face is left clear only where a recent recognition result names a known person at
that place. When the search cannot vouch for a frame (none yet after a start, too far behind, a scene
cut since) the whole frame is hidden; when recognition lags or stops, known faces are hidden too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from camera.specs import BLUR_MODES
from recognition.faces import Box, FaceObservation
from recognition.live.shield import Shield
from recognition.live.tracker import overlap


@dataclass(frozen=True)
class Hidden:
    """A patch to hide; with the face's landmarks there when avatars are drawn (an avatar goes over the
    pixelated patch), and the seed of its look: the stranger's visitor id, else the search's own number."""
    cover: Box
    shape: Optional[np.ndarray] = None
    seed: str = ""


class PrivacyFilter:
    """trust_for: how old (seconds) a recognition result may be and still vouch for a known face; older
    than that, known faces are hidden too. max_lag: how far (seconds) the privacy search may be behind a
    frame before the whole frame is hidden (longer: fewer whole-frame blurs on a busy machine, at the
    risk of a face that came in since being missed). margin: how much larger than a face recognition
    saw the hidden patch is."""

    def __init__(self, mode: str, shield: Optional[Shield], *, trust_for: float = 0.6, max_lag: float = 1.0,
                 margin: float = 0.3) -> None:
        if mode not in BLUR_MODES:
            raise ValueError(f"blur must be one of {', '.join(BLUR_MODES)}, not {mode!r}")
        if mode != "none" and shield is None:
            raise ValueError("blurring faces needs the privacy search (a FaceShield)")
        self.mode = mode
        self.shield = shield
        self._trust_for = trust_for
        self.max_lag = max_lag
        self._margin = margin
        self.whole_frames = 0  # frames hidden whole because the search could not vouch for them

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def regions(self, image: np.ndarray, captured_at: float, faces: Sequence[FaceObservation],
                result_age: float) -> list[Box]:
        """The boxes to pixelate in image (captured at captured_at), given the latest recognition
        result's faces and its age."""
        return [h.cover for h in self.hidden(image, captured_at, faces, result_age)]

    def hidden(self, image: np.ndarray, captured_at: float, faces: Sequence[FaceObservation],
               result_age: float) -> list[Hidden]:
        """regions(), each with what an avatar over it needs."""
        if not self.active:
            return []
        if self.shield is None:  # __init__ refuses any mode but "none" without one
            raise RuntimeError("blurring faces needs the privacy search (a FaceShield)")
        height, width = image.shape[:2]
        hidden = self.shield.hidden_at(image, captured_at, self.max_lag)
        if hidden is None:
            self.whole_frames += 1
            return [Hidden(Box(0, 0, width, height))]
        recent = list(faces) if result_age <= self._trust_for else []
        known = [f.box for f in recent if f.known] if self.mode == "unknown" else []
        boxes = []
        for h in hidden:
            # A known person's place clears one face found there, never a place where something moved.
            vouched = next((k for k in known if h.found and overlap(h.face, k) >= 0.5), None)
            if vouched is None:
                boxes.append(Hidden(h.cover, h.shape, _seed(h.face, h.number, recent)))
            else:
                known.remove(vouched)
        # What recognition saw and did not name is hidden even where the search missed it.
        boxes += [Hidden(self._grown(f.box, width, height)) for f in recent if self.mode == "all" or not f.known]
        return boxes

    def _grown(self, box: Box, width: int, height: int) -> Box:
        dx, dy = int(box.w * self._margin), int(box.h * self._margin)
        x, y = max(0, box.x - dx), max(0, box.y - dy)
        return Box(x, y, min(width, box.x + box.w + dx) - x, min(height, box.y + box.h + dy) - y)


def _seed(face: Box, number: int, recent: Sequence[FaceObservation]) -> str:
    """A stranger keeps their look while their visitor id lives; a face recognition has no id for yet,
    while the search keeps finding it."""
    stranger = next((f for f in recent if f.visitor and overlap(face, f.box) >= 0.3), None)
    return f"visitor-{stranger.visitor}" if stranger is not None else f"face-{number}"
