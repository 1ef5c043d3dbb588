"""A phone video for an album, made at test time from fixture photos (never stored): a street at HD size,
people walking in from the side, standing a while (swaying, small faces, darker than the photo) and
walking out; someone may come back later. The true time each person is in view is known.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from tests.crowd import _cutout, _paste, street

WALK = 1.0  # seconds to walk in (and out): the face is in view, moving, through it


@dataclass(frozen=True)
class Visit:
    photo: str  # fixture photo the person is cut from
    start: float  # seconds: walking in begins
    end: float  # seconds: gone
    x: float = 0.45  # where they stand, in frame widths
    face: float = 100.0  # face height, px
    light: float = 0.8


def home_video(path: Path, visits: Sequence[Visit], seconds: float, *, size: tuple[int, int] = (1280, 720),
               fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    """Writes the video (MPEG-4 in an .mp4 by default, as a phone's) and returns its path."""
    cutouts = {visit.photo: _cutout(visit.photo) for visit in visits}
    background = street(size, seed=11)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} video to {path}")
    try:
        for index in range(int(seconds * fps)):
            t = index / fps
            image = background.copy()
            owner = np.full((height, width), -1, np.int16)
            for number, visit in enumerate(visits):
                if not visit.start <= t < visit.end:
                    continue
                coming, going = (t - visit.start) / WALK, (visit.end - t) / WALK
                if coming < 1:  # in from the left
                    cx = (-0.1 + (visit.x + 0.1) * coming) * width
                elif going < 1:  # out to the right
                    cx = (1.1 - (1.1 - visit.x) * going) * width
                else:
                    cx = visit.x * width + 8 * math.sin(t * 1.7 + number)
                _paste(image, owner, number, cutouts[visit.photo], cx, 0.42 * height, visit.face, visit.light,
                       4 * math.sin(t + number))
            writer.write(image)
    finally:
        writer.release()
    return path
