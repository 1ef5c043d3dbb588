"""A second opinion on each candidate face, from another network than the one that found it.

Cascades and tiled searches take some background for faces (a tie, a window, a pattern on a shirt). Each
candidate is looked at again, alone and at a size where faces are plain to see: the square around it,
twice its side, given to BlazeFace's short-range model (made for faces that fill a good part of the
picture). It counts as a face only if that model finds one there, of about its size, with eyes, nose and
mouth where a face has them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from recognition.faces import Box
from recognition.models.detectors.blazeface import SHORT_RANGE, BlazeFaceModel, Found

CONTEXT = 2.0  # the square looked at, in candidate sides


class FaceConfirmer:
    """min_score: the short-range model's score a face must reach (higher: fewer false faces kept, more
    real faces in poor light or turned away dropped)."""

    def __init__(self, *, min_score: float = 0.5) -> None:
        self._model = BlazeFaceModel(SHORT_RANGE, min_score=min_score)

    def confirmed(self, image: np.ndarray, boxes: Sequence[Box]) -> list[Box]:
        return [box for box, ok in zip(boxes, self.verdicts(image, boxes)) if ok]

    def verdicts(self, image: np.ndarray, boxes: Sequence[Box]) -> list[bool]:
        from recognition.models.detectors.tiled import cut

        if not boxes:
            return []
        squares = []
        for box in boxes:
            side = max(8, round(CONTEXT * max(box.w, box.h)))
            squares.append((box.x + box.w // 2 - side // 2, box.y + box.h // 2 - side // 2, side))
        answers = self._model.run([cut(image, *square, self._model.spec.size) for square in squares])
        return [any(_is_the_face(face, box, square) for face in faces)
                for box, square, faces in zip(boxes, squares, answers)]


def _is_the_face(face: Found, box: Box, square: tuple[int, int, int]) -> bool:
    """The model's face is the candidate: centred within it, of about its size, with its features in place."""
    left, top, side = square
    x, y, w, h = face.box
    cx, cy = left + (x + w / 2) * side, top + (y + h / 2) * side
    inside = box.x <= cx <= box.x + box.w and box.y <= cy <= box.y + box.h
    sized = 0.4 <= (w * side) / max(box.w, 1) <= 2.5
    eyes, nose, mouth = face.keypoints[0:2], face.keypoints[2], face.keypoints[3]
    eye_gap = float(np.linalg.norm(eyes[0] - eyes[1]))
    upright = mouth[1] > eyes[:, 1].mean() and eye_gap > 0.12 * w  # not upside down, not a point
    return inside and sized and upright and nose[1] > eyes[:, 1].min() - 0.1 * h
