"""Where a correction's mark lands: the face of a photo, or the appearance in a video, that it was made on.

A mark is kept by its album folder, its file and the face's box relative to the picture, so it finds its
face again after a re-index, even with another detector: the face whose box overlaps its own most. A
video's faces are appearances: the index gives them as (n, 7) rows, the box then when they came into
view, left it and were seen best (seconds); a mark on one keeps that time and finds the appearance in
view then (within SAME_MOMENT) overlapping its box at least SAME_APPEARANCE, since its best view may be
another moment's after a re-index: one person filmed twice at one place is two appearances.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from recognition.album.corrections_file import Mark

SAME_FACE = 0.5  # a mark finds the face whose box overlaps its own at least this much (IoU)
VIDEO_START, VIDEO_END, VIDEO_AT = 4, 5, 6
SAME_MOMENT = 1.0
SAME_APPEARANCE = 0.1


def mark_on(folder: str, photo: str, row: np.ndarray) -> Mark:
    """The mark of the face whose index row (a box, and for a video's appearance its times) is row."""
    x, y, w, h = (round(float(v), 5) for v in row[:4])
    at = round(float(row[VIDEO_AT]), 2) if len(row) > VIDEO_AT else None
    return Mark(folder, photo, (x, y, w, h), at)


def landing(mark: Mark, boxes: np.ndarray) -> Optional[int]:
    """The number of the face (of these index rows) the mark is on now; None when it is gone."""
    if not len(boxes):
        return None
    overlaps = iou(np.asarray(mark.box, np.float32), boxes[:, :4])
    needed = SAME_FACE
    if mark.at is not None and boxes.shape[1] > VIDEO_AT:
        came, left = boxes[:, VIDEO_START] - SAME_MOMENT, boxes[:, VIDEO_END] + SAME_MOMENT
        overlaps = np.where((came <= mark.at) & (mark.at <= left), overlaps, 0.0)
        needed = SAME_APPEARANCE
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= needed else None


def same_face(first: Mark, second: Mark) -> bool:
    if first.at is not None or second.at is not None:  # two appearances in one video are two faces
        if first.at is None or second.at is None or abs(first.at - second.at) > SAME_MOMENT:
            return False
    return ((first.folder, first.photo) == (second.folder, second.photo)
            and float(iou(np.asarray(first.box, np.float32), np.asarray([second.box], np.float32))[0]) >= SAME_FACE)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return inter / np.maximum(union, 1e-9)
