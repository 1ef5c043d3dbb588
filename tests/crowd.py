"""A street crowd filmed by an HD camera, made at test time from the fixture photos (never stored).

The fixtures' faces are large and few; real cameras see many small faces that move. A CrowdScene pastes
each fixture person (head and shoulders, cut with a soft edge) into a 1920x1080 street, small (faces
about 50 to 120 px tall), walking towards the camera (growing as they come), drifting sideways, some
darker than others, some with the head tilted. People leave and others come, so faces also appear at
the frame's edges. The true face boxes of every frame are known: they are the reference detectors and
the blur are measured against.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from recognition.faces import Box, centre_inside

# Head-and-shoulders cut around a face box, in face sides: left, top, right, bottom.
CUT = (0.55, 0.75, 0.55, 1.6)
MATCH_IOU = 0.3  # loose: detectors draw a face's box differently (brows to chin, forehead to neck)
PEOPLE = ["obama/obama1.jpg", "obama/obama3.jpg", "biden/biden1.jpg", "biden/biden2.jpg",
          "kit_harington/kit1.jpg", "rose_leslie/rose1.jpg", "rose_leslie/rose2.jpg",
          "alex_lacamoire/alex1.jpg", "lin_manuel_miranda/lin1.png", "obama/obama2.jpg"]


@dataclass(frozen=True)
class Cutout:
    """A person cut from a photo: the picture, its soft-edged mask, and where the face is in it."""

    picture: np.ndarray
    mask: np.ndarray  # float32 in [0, 1]
    face: Box


@dataclass(frozen=True)
class Walker:
    cutout: int
    start: float  # seconds
    life: float  # seconds in view
    x0: float  # face centre at the start, in frame widths
    y0: float  # face centre at the start, in frame heights
    drift: float  # frame widths a second
    face0: float  # face height at the start, px
    face1: float  # face height at the end, px
    light: float  # brightness factor
    tilt: float  # degrees


@dataclass(frozen=True)
class CrowdFrame:
    image: np.ndarray
    faces: list[Box]  # every face in view, as pasted (clipped to the frame)


def cutouts(photos: Sequence[str] = PEOPLE) -> list[Cutout]:
    return [_cutout(photo) for photo in photos]


@lru_cache(maxsize=None)
def _cutout(photo: str) -> Cutout:
    import dlib

    from tests.conftest import load_photo

    image = load_photo(photo)
    found = dlib.get_frontal_face_detector()(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), 1)
    rect = max(found, key=lambda r: r.area())
    # dlib's box spans brows to lip; a face box as people draw it reaches the forehead and the chin.
    face = Box(rect.left(), rect.top() - rect.height() // 5, rect.width(), rect.height() * 6 // 5)
    side = face.h
    left, top = max(0, face.x - int(CUT[0] * side)), max(0, face.y - int(CUT[1] * side))
    right = min(image.shape[1], face.x + face.w + int(CUT[2] * side))
    bottom = min(image.shape[0], face.y + face.h + int(CUT[3] * side))
    picture = image[top:bottom, left:right].copy()
    h, w = picture.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, int(h * 0.55)), (int(w * 0.46), int(h * 0.5)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 30))
    return Cutout(picture, mask, Box(face.x - left, face.y - top, face.w, face.h))


class CrowdScene:
    """people: how many walk in view at once; faces: the range of face heights (px) as they come nearer."""

    def __init__(self, *, seed: int = 1, size: tuple[int, int] = (1920, 1080), fps: float = 25.0, people: int = 6,
                 faces: tuple[int, int] = (50, 120), photos: Sequence[str] = PEOPLE) -> None:
        self.size, self.fps = size, fps
        self._cutouts = cutouts(photos)
        self._background = street(size, seed)
        rng = np.random.default_rng(seed)
        self._walkers: list[Walker] = []
        for lane in range(people):
            at = -rng.uniform(0, 6)  # already walking when the film starts
            while at < 3600:
                life = rng.uniform(5, 9)
                self._walkers.append(Walker(
                    cutout=int(rng.integers(len(self._cutouts))), start=at, life=life,
                    x0=(lane + rng.uniform(0.1, 0.9)) / people, y0=rng.uniform(0.3, 0.55),
                    drift=rng.uniform(-0.04, 0.04), face0=rng.uniform(faces[0], (faces[0] + faces[1]) / 2),
                    face1=faces[1] * rng.uniform(0.85, 1.0), light=rng.uniform(0.45, 1.1), tilt=rng.uniform(-15, 15)))
                at += life + rng.uniform(0.0, 1.0)
                if len(self._walkers) > 4000:
                    break

    def frame(self, index: int) -> CrowdFrame:
        t = index / self.fps
        image = self._background.copy()
        faces: list[tuple[int, Box]] = []
        width, height = self.size
        owner = np.full((height, width), -1, np.int16)  # who is in front, pixel by pixel
        for walker in self._walkers:
            if not walker.start <= t < walker.start + walker.life:
                continue
            progress = (t - walker.start) / walker.life
            face_h = walker.face0 + (walker.face1 - walker.face0) * progress
            cx = (walker.x0 + walker.drift * (t - walker.start)) * width
            cy = (walker.y0 + 0.12 * progress) * height
            box = _paste(image, owner, len(faces), self._cutouts[walker.cutout], cx, cy, face_h, walker.light,
                         walker.tilt)
            if box is not None:
                faces.append((len(faces), box))
        # A face mostly hidden behind someone nearer the camera is no face to find.
        return CrowdFrame(image, [box for number, box in faces
                                  if (owner[box.y : box.y + box.h, box.x : box.x + box.w] == number).mean() >= 0.6])

    def frames(self, count: int, start: int = 0, step: int = 1) -> list[CrowdFrame]:
        return [self.frame(start + i * step) for i in range(count)]

    def write(self, path: Path, seconds: float, *, start: int = 0) -> Path:
        """The scene as a video file a camera source can play (MJPG in AVI: quick to write and to read)."""
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, self.size)
        try:
            for index in range(start, start + int(seconds * self.fps)):
                writer.write(self.frame(index).image)
        finally:
            writer.release()
        return path


def matches(box: Box, true: Box) -> bool:
    """Whether a detected box is this true face: they overlap by MATCH_IOU or more, or it holds the face's centre."""
    from recognition.models.detectors.blazeface import iou

    return iou(box.as_list(), true.as_list()) >= MATCH_IOU or centre_inside(true, box)


def found_and_false(boxes: Sequence[Box], truth: Sequence[Box]) -> tuple[int, int]:
    """(true faces some box matches, boxes that match no true face: false faces)."""
    found = sum(any(matches(box, true) for box in boxes) for true in truth)
    false = sum(not any(matches(box, true) for true in truth) for box in boxes)
    return found, false


def street(size: tuple[int, int], seed: int) -> np.ndarray:
    """A background with the edges and textures of a street (façades, windows, signs), and no face."""
    width, height = size
    rng = np.random.default_rng(seed + 1000)
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (150, 160, 170)
    for _ in range(40):  # façades
        x, w = int(rng.integers(0, width)), int(rng.integers(80, 400))
        top = int(rng.integers(0, height // 2))
        colour = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(image, (x, top), (x + w, height), colour, -1)
        for wy in range(top + 20, height - 100, 70):  # windows
            for wx in range(x + 15, x + w - 30, 60):
                shade = tuple(int(c) for c in rng.integers(20, 120, 3))
                cv2.rectangle(image, (wx, wy), (wx + 30, wy + 40), shade, -1)
    cv2.rectangle(image, (0, int(height * 0.78)), (width, height), (90, 95, 100), -1)  # the pavement
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _paste(image: np.ndarray, owner: np.ndarray, number: int, cut: Cutout, cx: float, cy: float, face_h: float,
           light: float, tilt: float) -> Optional[Box]:
    """Pastes the person so that their face, face_h tall, is centred at (cx, cy); the face's box in image."""
    scale = face_h / cut.face.h
    picture = cv2.resize(cut.picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(cut.mask, (picture.shape[1], picture.shape[0]), interpolation=cv2.INTER_AREA)
    face = Box(round(cut.face.x * scale), round(cut.face.y * scale), round(cut.face.w * scale), round(face_h))
    if abs(tilt) > 1:  # about the face's centre, so the face box stays where it was
        centre = (face.x + face.w / 2, face.y + face.h / 2)
        turn = cv2.getRotationMatrix2D(centre, tilt, 1.0)
        picture = cv2.warpAffine(picture, turn, (picture.shape[1], picture.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(mask, turn, (mask.shape[1], mask.shape[0]))
    left, top = round(cx - face.x - face.w / 2), round(cy - face.y - face.h / 2)
    height, width = image.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + picture.shape[1]), min(height, top + picture.shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    part = picture[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32) * light
    alpha = mask[y0 - top : y1 - top, x0 - left : x1 - left, None]
    region = image[y0:y1, x0:x1]
    region[:] = np.clip(part * alpha + region * (1 - alpha), 0, 255).astype(np.uint8)
    owner[y0:y1, x0:x1][alpha[..., 0] > 0.5] = number
    fx0, fy0 = max(0, left + face.x), max(0, top + face.y)
    fx1, fy1 = min(width, left + face.x + face.w), min(height, top + face.y + face.h)
    if (fx1 - fx0) * (fy1 - fy0) < 0.5 * face.w * face.h:
        return None  # mostly outside the frame: not a face anyone could recognise
    return Box(fx0, fy0, fx1 - fx0, fy1 - fy0)
