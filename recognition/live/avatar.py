"""Synthetic avatars drawn over faces: a flat cartoon head placed by the face's 68 landmarks, so it
follows the face's position, size, tilt and turn, and opens its mouth and closes its eyes with it.

What an avatar looks like (skin, hair, eye colour, its shape) comes from a seed only: a stranger's
visitor id, so one stranger keeps one avatar while their id lives, and nothing of the face beneath
shows through its look. Only the geometry follows the face: where its parts are and how open.

It covers the whole face with a margin (the landmarks' hull grown a third, the forehead and hair
included), so it hides as much as the pixelation does; and it is drawn with no shading, no skin
texture and round eyes, the look of a drawing, not of a photo of a face.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np

# dlib's 68 points: the jaw, the brows, the nose, each eye, the lips outside and inside.
JAW, BROWS, NOSE_TIP = slice(0, 17), slice(17, 27), 30
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
MOUTH_OUTER, MOUTH_INNER = slice(48, 60), slice(60, 68)

SKINS = [(120, 170, 230), (90, 140, 200), (60, 100, 160), (150, 200, 245), (100, 160, 215), (70, 120, 180),
         (180, 140, 120), (140, 200, 170), (200, 170, 220)]  # BGR, playful ones too: not a real skin
HAIRS = [(30, 30, 30), (20, 60, 120), (40, 110, 200), (200, 200, 210), (60, 40, 150), (160, 80, 30),
         (50, 160, 60), (150, 50, 150)]
IRISES = [(140, 90, 30), (60, 120, 40), (30, 60, 100), (150, 150, 60), (90, 40, 120)]
MARGIN = 0.33  # the head is the landmarks' hull grown by this share of its size
CLOSED_EYE = 0.18  # eye opening (height over width) below which the avatar's eye is closed
OPEN_MOUTH = 0.12  # inner lips' gap over the mouth's width above which the avatar's mouth is open


def face_shape(image: np.ndarray, box) -> np.ndarray:
    """The 68 landmarks of the face in box: the process's one landmark model (loaded at the first call)."""
    from recognition.liveness.pose import shared_pose_model

    return shared_pose_model().landmarks(image, box)


@dataclass(frozen=True)
class AvatarLook:
    skin: tuple
    hair: tuple
    iris: tuple
    hair_style: int  # 0 a cap of hair, 1 a fringe, 2 none (a bald head with ears)
    roundness: float  # the head's width over its height, 0.85 to 1.05


def look_for(seed: str) -> AvatarLook:
    """The avatar a seed (a visitor id) always gets."""
    digest = hashlib.sha256(f"faceapp avatar\0{seed}".encode()).digest()
    return AvatarLook(SKINS[digest[0] % len(SKINS)], HAIRS[digest[1] % len(HAIRS)], IRISES[digest[2] % len(IRISES)],
                      digest[3] % 3, 0.85 + (digest[4] / 255) * 0.2)


@dataclass(frozen=True)
class Head:
    """Where the avatar's head goes: its centre, half axes (px) and tilt (degrees) in the image."""
    centre: tuple[float, float]
    axes: tuple[float, float]
    tilt: float

    def cover(self) -> tuple[int, int, int, int]:
        """x, y, w, h of a box the head covers entirely (its upright bounding box)."""
        r = max(self.axes)
        return (int(self.centre[0] - r), int(self.centre[1] - r), int(2 * r) + 1, int(2 * r) + 1)


def head_for(points: np.ndarray, look: AvatarLook) -> Head:
    """The head that covers these 68 landmarks, the forehead above them, and a margin around."""
    points = np.asarray(points, np.float64)
    left, right = _centre(points[LEFT_EYE].tolist()), _centre(points[RIGHT_EYE].tolist())
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    cos, sin = math.cos(angle), math.sin(angle)
    # The face turned level (a rotation by -tilt): its extent along and across the eye line.
    upright = points @ np.array([[cos, -sin], [sin, cos]])
    (low_x, low_y), (high_x, high_y) = upright.min(axis=0).tolist(), upright.max(axis=0).tolist()
    width, height = high_x - low_x, high_y - low_y
    high_forehead = low_y - 0.45 * height  # the landmarks stop at the brows: the forehead is above
    top, bottom = high_forehead - MARGIN * height * 0.5, high_y + MARGIN * height * 0.5
    half_height = (bottom - top) / 2
    half_width = max((width / 2) * (1 + MARGIN), half_height * look.roundness)
    ux, uy = (low_x + high_x) / 2, (top + bottom) / 2
    centre = (ux * cos - uy * sin, ux * sin + uy * cos)  # turned back
    return Head(centre, (half_width, half_height), math.degrees(angle))


def draw_avatar(image: np.ndarray, points: np.ndarray, seed: str) -> Head:
    """Draws, in place, the avatar of seed over the face whose 68 landmarks are points; returns its head.
    Its geometry is worked out in plain floats: a stream draws one per hidden face in every frame, and
    NumPy's per-call cost on arrays of six points was three quarters of the time."""
    look = look_for(seed)
    head = head_for(points, look)
    xy = np.asarray(points, np.float64).tolist()
    centre = (round(head.centre[0]), round(head.centre[1]))
    axes = (max(1, round(head.axes[0])), max(1, round(head.axes[1])))
    if look.hair_style == 2:  # ears, behind the head
        for side in (-1, 1):
            ear = _along(head, side * 0.98, 0.05)
            cv2.ellipse(image, ear, (max(1, axes[0] // 5), max(1, axes[1] // 6)), head.tilt, 0, 360, look.skin, -1)
    if look.hair_style == 2:  # bald: the whole head is the face
        cv2.ellipse(image, centre, axes, head.tilt, 0, 360, look.skin, -1, cv2.LINE_AA)
    else:  # the whole head in hair, the face lower and smaller within it: a cap of hair, or a fringe
        cv2.ellipse(image, centre, axes, head.tilt, 0, 360, look.hair, -1, cv2.LINE_AA)
        down, narrow, short = (0.12, 0.92, 0.86) if look.hair_style == 0 else (0.2, 0.9, 0.78)
        face = _along(head, 0.0, down)
        cv2.ellipse(image, face, (max(1, round(axes[0] * narrow)), max(1, round(axes[1] * short))), head.tilt, 0,
                    360, look.skin, -1, cv2.LINE_AA)
    eye_side = max(2, round(axes[0] * 0.16))
    for eye in (LEFT_EYE, RIGHT_EYE):
        _draw_eye(image, xy[eye], eye_side, look, head.tilt)
    _draw_nose(image, xy[NOSE_TIP], head, look)
    _draw_mouth(image, xy[MOUTH_OUTER], xy[MOUTH_INNER], head)
    return head


def _centre(points: list) -> tuple[float, float]:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _apart(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _draw_eye(image: np.ndarray, eye: list, side: int, look: AvatarLook, tilt: float) -> None:
    centre = _centre(eye)
    width = _apart(eye[3], eye[0])
    opening = (_apart(eye[1], eye[5]) + _apart(eye[2], eye[4])) / (2 * max(width, 1e-6))
    at = (round(centre[0]), round(centre[1]))
    if opening < CLOSED_EYE:  # closed: a lid's line
        cv2.ellipse(image, at, (side, max(1, side // 3)), tilt, 0, 180, (40, 40, 40), max(1, side // 4), cv2.LINE_AA)
        return
    cv2.circle(image, at, side, (250, 250, 250), -1, cv2.LINE_AA)
    cv2.circle(image, at, max(1, round(side * 0.55)), look.iris, -1, cv2.LINE_AA)
    cv2.circle(image, at, max(1, round(side * 0.25)), (20, 20, 20), -1, cv2.LINE_AA)


def _draw_nose(image: np.ndarray, tip: list, head: Head, look: AvatarLook) -> None:
    darker = tuple(max(0, int(c * 0.75)) for c in look.skin)
    cv2.circle(image, (round(tip[0]), round(tip[1])), max(1, round(head.axes[0] * 0.08)), darker, -1, cv2.LINE_AA)


def _draw_mouth(image: np.ndarray, outer: list, inner: list, head: Head) -> None:
    width = _apart(outer[6], outer[0])
    gap = _apart(inner[6], inner[2])  # dlib's inner lips: 62 top middle, 66 bottom middle
    centre = _centre(outer)
    at = (round(centre[0]), round(centre[1]))
    half = max(2, round(width / 2))
    if gap / max(width, 1e-6) > OPEN_MOUTH:  # open: a dark oval as tall as the lips are apart
        cv2.ellipse(image, at, (half, max(2, round(gap / 2))), head.tilt, 0, 360, (40, 30, 90), -1, cv2.LINE_AA)
    else:  # closed: a smile's curve
        cv2.ellipse(image, at, (half, max(1, half // 3)), head.tilt, 0, 180, (40, 30, 90), max(1, half // 6),
                    cv2.LINE_AA)


def _along(head: Head, across: float, down: float) -> tuple[int, int]:
    """A point of the head: across and down as shares of its half axes, turned with its tilt."""
    angle = math.radians(head.tilt)
    dx, dy = across * head.axes[0], down * head.axes[1]
    x = head.centre[0] + dx * math.cos(angle) - dy * math.sin(angle)
    y = head.centre[1] + dx * math.sin(angle) + dy * math.cos(angle)
    return (round(x), round(y))
