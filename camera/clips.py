"""Video files made of still pictures: a camera that shows these people, for demos, tests and benchmarks."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """image scaled to fit size (width, height), centred on black."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def write_clip(path: Path, images: Sequence[np.ndarray], *, seconds_each: float, fps: float = 20.0,
               size: tuple[int, int] = (640, 480)) -> Path:
    """An MJPG video showing each image for seconds_each, letterboxed to size."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    for image in images:
        frame = letterbox(image, size)
        for _ in range(max(1, round(seconds_each * fps))):
            writer.write(frame)
    writer.release()
    return path
