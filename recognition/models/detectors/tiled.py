"""Searching a whole frame for faces of every size, from min_face up: in levels of square tiles.

A network with a fixed input (BlazeFace: 192 px) sees faces down to about a twelfth of its input. A 1080p
frame squeezed into 192 px loses every face under ~160 px, so the frame is cut into squares whose side
makes min_face about a tenth of the input (20 x min_face), overlapping by a third so a face cut by one tile's
edge is whole in its neighbour, and then searched again in squares three times larger, up to one square
for the whole frame: each level finds the faces the finer one is too small to hold whole.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from recognition.faces import Box, Detection, centre_inside
from recognition.models.detectors.blazeface import FULL_RANGE, BlazeFaceModel, iou, to_frame
from recognition.models.detectors.confirm import FaceConfirmer

# Tile side in smallest faces: the model's input is 192 px, so a smallest face is ~10 px there. Measured on
# crowds of 40-100 px faces (bench/detect_bench.py): 16 and 20 find them all, 24 misses one in 25.
TILE_PER_FACE = 20
LEVEL_STEP = 3  # each level's squares are this much larger than the finer level's


def squares(width: int, height: int, side: int) -> list[tuple[int, int, int]]:
    """(left, top, side) squares covering the frame, overlapping by a third of a side."""
    if side >= max(width, height):
        return [(0, 0, max(width, height))]
    step = max(1, side - side // 3)

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        last, count = length - side, -(-(length - side) // step) + 1
        return [round(i * last / (count - 1)) for i in range(count)]  # evenly spread, the last at the edge

    return [(x, y, side) for y in starts(height) for x in starts(width)]


MAX_TILES = 48  # a search of a huge frame looks for larger faces rather than take seconds and gigabytes
BATCH = 16  # squares given to the network at once: bounds the input blob's memory


def levels(width: int, height: int, min_face: int) -> list[int]:
    """The square sides to search, finest first, ending with one square for the whole frame. On a frame
    so large that the finest level would need more than MAX_TILES squares, the finest level is coarser."""
    side = TILE_PER_FACE * max(1, min_face)
    while len(squares(width, height, side)) > MAX_TILES:
        side = int(side * 1.25)
    sides = []
    while side < max(width, height):
        sides.append(side)
        side *= LEVEL_STEP
    return sides + [max(width, height)]


def cut(image: np.ndarray, left: int, top: int, side: int, size: Optional[int] = None) -> np.ndarray:
    """The square of image at (left, top), padded with black where it passes the frame's edge, scaled to
    size x size (the network's input) as it is cut: a whole-frame square of an 8K frame never exists at
    full size."""
    size = size or side
    height, width = image.shape[:2]
    out = np.zeros((size, size, 3), np.uint8)
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, left + side), min(height, top + side)
    if x1 > x0 and y1 > y0:
        part = image[y0:y1, x0:x1]
        part = part if part.ndim == 3 else cv2.cvtColor(part, cv2.COLOR_GRAY2BGR)
        scale = size / side
        ox, oy = round((x0 - left) * scale), round((y0 - top) * scale)
        w, h = max(1, min(size - ox, round((x1 - x0) * scale))), max(1, min(size - oy, round((y1 - y0) * scale)))
        out[oy : oy + h, ox : ox + w] = (cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA) if scale != 1
                                         else part[:h, :w])
    return out


def merged(boxes: list[tuple[Box, float]], overlap: float = 0.3) -> list[Box]:
    """One box per face found in several squares: the best scored, largest first."""
    kept: list[Box] = []
    for box, _ in sorted(boxes, key=lambda b: b[1], reverse=True):
        if not any(iou(_xywh(box), _xywh(k)) >= overlap or centre_inside(box, k) or centre_inside(k, box)
                   for k in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: b.area, reverse=True)


def _xywh(box: Box) -> tuple[int, int, int, int]:
    return box.x, box.y, box.w, box.h


def clipped(box: Box, width: int, height: int) -> Box:
    x, y = max(0, box.x), max(0, box.y)
    return Box(x, y, max(0, min(width, box.x + box.w) - x), max(0, min(height, box.y + box.h) - y))


class BlazeFaceDetector:
    """BlazeFace's full-range model over tiles. min_face: the smallest face side in pixels of the image
    searched (smaller: more tiles, slower; 40 px costs eight tiles and a whole-frame look on 1080p).
    confirm: every candidate is looked at again by the short-range model (confirm.py) before it counts."""

    name = "blazeface"

    def __init__(self, *, min_face: int = 40, min_score: float = 0.5, confirm: bool = True) -> None:
        if min_face < 1:
            raise ValueError(f"min_face must be a positive number of pixels, not {min_face}")
        self.min_face = min_face
        self._model = BlazeFaceModel(FULL_RANGE, min_score=min_score)
        self._confirmer = FaceConfirmer() if confirm else None

    def candidates(self, image: np.ndarray) -> list[Box]:
        """Every face-like box, not yet confirmed: what a privacy search hides (hiding a false face costs
        nothing; missing a real one leaks it)."""
        height, width = image.shape[:2]
        picked = [s for side in levels(width, height, self.min_face) for s in squares(width, height, side)]
        return self._search(image, picked)

    def smallest_face(self, width: int, height: int) -> int:
        """The smallest face side (px) this detector finds in a frame of that size: min_face, unless the
        frame is so large that its tiles were made coarser (MAX_TILES)."""
        return max(self.min_face, levels(width, height, self.min_face)[0] // TILE_PER_FACE)

    def detect(self, image: np.ndarray) -> list[Box]:
        found = self.candidates(image)
        return self._confirmer.confirmed(image, found) if self._confirmer is not None else found

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        return [Detection(box) for box in self.detect(image)]

    def detect_profiles(self, image: np.ndarray, frontal: list[Box]) -> list[Detection]:
        return []  # BlazeFace's own boxes include faces turned well away

    def detect_near(self, image: np.ndarray, boxes: Sequence[Box], face_side: int = 80) -> list[Detection]:
        """Each followed face looked for in one square around it, where it is about a quarter of the side."""
        if not boxes:
            return []
        picked = []
        for box in boxes:
            side = max(4 * max(box.w, box.h), 2 * self.min_face)
            picked.append((box.x + box.w // 2 - side // 2, box.y + box.h // 2 - side // 2, side))
        return [Detection(box) for box in self._search(image, picked)]

    def _search(self, image: np.ndarray, picked: list[tuple[int, int, int]]) -> list[Box]:
        height, width = image.shape[:2]
        found = []
        size = self._model.spec.size
        answers = [faces for start in range(0, len(picked), BATCH)
                   for faces in self._model.run([cut(image, *s, size) for s in picked[start : start + BATCH]])]
        for (left, top, side), faces in zip(picked, answers):
            for face in faces:
                box = clipped(to_frame(face, left, top, side)[0], width, height)
                if box.w >= 0.6 * self.min_face and box.h > 0:
                    found.append((box, face.score))
        return merged(found)
