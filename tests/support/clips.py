"""Video files made of still pictures: a camera that shows these people, for demos, tests and benchmarks."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

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


def face_centred(image: np.ndarray, box: tuple[int, int, int, int], *, size: tuple[int, int] = (640, 480),
                 face_width: int = 200, centre: tuple[float, float] = (0.5, 0.45)) -> np.ndarray:
    """A camera frame of size showing image scaled and moved so the face in box (x, y, w, h) is
    face_width pixels wide with its centre at centre (fractions of the frame): photos of one person
    taken apart, shown one after another, then look like one head in front of one camera."""
    x, y, w, h = box
    scale = face_width / max(w, 1)
    shift_x = centre[0] * size[0] - (x + w / 2) * scale
    shift_y = centre[1] * size[1] - (y + h / 2) * scale
    matrix = np.float32([[scale, 0, shift_x], [0, scale, shift_y]])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def held_up(image: np.ndarray, count: int, *, swing: float = 35.0, nod: float = 20.0, sway: float = 0.08,
            focal: float = 1.2) -> list[np.ndarray]:
    """count frames of a flat picture held up to a camera and moved as a person fooling a liveness check
    would: turned about its upright axis by up to swing degrees either way, tilted by up to nod, slid by
    up to sway of the frame and brought a little closer, seen in perspective by a camera whose focal
    length is focal times the frame's width (1.2 is a wide webcam lens; smaller is stronger perspective)."""
    height, width = image.shape[:2]
    corners = np.float64([[-width / 2, -height / 2], [width / 2, -height / 2],
                          [width / 2, height / 2], [-width / 2, height / 2]])
    frames = []
    for index in range(count):
        phase = 2 * np.pi * index / max(count, 1)
        yaw, pitch = np.radians(swing * np.sin(phase)), np.radians(nod * np.sin(2 * phase + 1))
        zoom = 1 + 0.1 * np.sin(phase / 2)
        dx, dy = sway * width * np.cos(phase), sway * height * np.sin(phase) / 2
        seen = []
        for cx, cy in corners:
            x, z = cx * np.cos(yaw), cx * np.sin(yaw)  # turned about the upright axis, ...
            y, z = cy * np.cos(pitch), z + cy * np.sin(pitch)  # ... then tilted about the level one
            depth = focal * width / (focal * width + z)
            seen.append([x * depth * zoom + width / 2 + dx, y * depth * zoom + height / 2 + dy])
        matrix = cv2.getPerspectiveTransform(np.float32(corners + [width / 2, height / 2]), np.float32(seen))
        frames.append(cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))
    return frames


def write_y4m(path: Path, frames: Sequence[np.ndarray], *, fps: int = 15) -> Path:
    """A raw YUV4MPEG2 video (what Chromium's fake camera plays: --use-file-for-fake-video-capture) of
    BGR frames, all of the first one's size (even sides)."""
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"a y4m frame needs even sides, not {width}x{height}")
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            if frame.shape[:2] != (height, width):
                raise ValueError("every frame of a y4m video has the same size")
            handle.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def read_frames(path: Path, start: int = 0, stop: Optional[int] = None, step: int = 1) -> list[np.ndarray]:
    """Frames start, start + step, ... (before stop) of a video file, as BGR arrays."""
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    try:
        while stop is None or index < stop:
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path} has no frames from {start} on")
    return frames
