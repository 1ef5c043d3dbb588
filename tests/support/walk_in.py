"""A person walking into an HD camera's view and staying, made at test time from a fixture photo (never
stored): an empty street first, then the person comes in from the left edge, small (a face about 90 px
tall in 1280x720), slightly darker than the photo, and stands swaying a little. Played looped, the
person vanishes for the clip's empty start, as someone stepping out of view for a moment."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from tests.crowd import _cutout, _paste, street


def walk_in_clip(path: Path, photo: str, *, size: tuple[int, int] = (1280, 720), fps: float = 15.0,
                 empty: float = 1.0, walk: float = 1.5, stay: float = 6.0, face: float = 90.0,
                 light: float = 0.8) -> Path:
    cutout = _cutout(photo)
    background = street(size, seed=7)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    try:
        for index in range(int((empty + walk + stay) * fps)):
            t = index / fps
            image = background.copy()
            if t >= empty:
                progress = min(1.0, (t - empty) / walk)
                cx = (-0.05 + 0.5 * progress) * width + 6 * math.sin(t * 2.0)
                owner = np.full((height, width), -1, np.int16)
                _paste(image, owner, 0, cutout, cx, 0.42 * height, face, light, 4 * math.sin(t))
            writer.write(image)
    finally:
        writer.release()
    return path
