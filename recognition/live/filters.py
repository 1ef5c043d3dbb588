"""Fun filters drawn on faces by their 68 landmarks: sunglasses on the eyes, a hat above the brows. Each
follows the face's size, position and tilt (the eye line), and the eyes' own places as the head turns.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.live.avatar import BROWS, JAW, LEFT_EYE, RIGHT_EYE

FILTERS = ("sunglasses", "hat")
LENS = (20, 20, 20)
FRAME = (10, 10, 10)
HAT = (40, 30, 30)
BAND = (40, 40, 170)


@dataclass(frozen=True)
class Placed:
    """Where a filter went: for sunglasses the lenses' centres (px), for a hat its brim's centre."""
    points: tuple[tuple[float, float], ...]


def draw_filter(image: np.ndarray, points: np.ndarray, name: str) -> Placed:
    """Draws the filter named on the face whose 68 landmarks are points, in place."""
    points = np.asarray(points, np.float64)
    if name == "sunglasses":
        return _sunglasses(image, points)
    if name == "hat":
        return _hat(image, points)
    raise ValueError(f"no filter {name!r}: one of {', '.join(FILTERS)}")


def _sunglasses(image: np.ndarray, points: np.ndarray) -> Placed:
    left, right = points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)
    tilt = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    apart = float(np.linalg.norm(right - left))
    lens = (max(2, round(apart * 0.42)), max(2, round(apart * 0.32)))
    for centre in (left, right):
        cv2.ellipse(image, _pt(centre), lens, tilt, 0, 360, LENS, -1, cv2.LINE_AA)
        cv2.ellipse(image, _pt(centre), lens, tilt, 0, 360, FRAME, max(1, round(apart * 0.05)), cv2.LINE_AA)
    thickness = max(1, round(apart * 0.06))
    cv2.line(image, _pt(left + (right - left) * 0.4), _pt(left + (right - left) * 0.6), FRAME, thickness, cv2.LINE_AA)
    for eye, temple in ((left, points[JAW][0]), (right, points[JAW][-1])):  # the arms, to the face's sides
        direction = eye - (left + right) / 2
        start = eye + direction / max(np.linalg.norm(direction), 1e-6) * lens[0]
        cv2.line(image, _pt(start), _pt(temple), FRAME, thickness, cv2.LINE_AA)
    return Placed(((float(left[0]), float(left[1])), (float(right[0]), float(right[1]))))


def _hat(image: np.ndarray, points: np.ndarray) -> Placed:
    left, right = points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)
    axis = (right - left) / max(np.linalg.norm(right - left), 1e-6)
    up = np.array([axis[1], -axis[0]])  # the face's up, turned with the eye line
    width = float(np.linalg.norm(points[JAW][-1] - points[JAW][0]))
    brows = points[BROWS]
    brim = brows.mean(axis=0) + up * width * 0.27
    corners = [brim - axis * width * 0.38, brim + axis * width * 0.38,
               brim + axis * width * 0.3 + up * width * 0.75, brim - axis * width * 0.3 + up * width * 0.75]
    cv2.fillPoly(image, [np.round(np.array(corners)).astype(np.int32)], HAT, cv2.LINE_AA)
    band = [brim - axis * width * 0.37, brim + axis * width * 0.37,
            brim + axis * width * 0.36 + up * width * 0.15, brim - axis * width * 0.36 + up * width * 0.15]
    cv2.fillPoly(image, [np.round(np.array(band)).astype(np.int32)], BAND, cv2.LINE_AA)
    brim_ends = [brim - axis * width * 0.65, brim + axis * width * 0.65]
    cv2.line(image, _pt(brim_ends[0]), _pt(brim_ends[1]), HAT, max(2, round(width * 0.07)), cv2.LINE_AA)
    return Placed(((float(brim[0]), float(brim[1])),))


def _pt(point: np.ndarray) -> tuple[int, int]:
    return (round(float(point[0])), round(float(point[1])))
