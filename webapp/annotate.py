"""Drawing boxes and labels on stream frames."""
from __future__ import annotations

import cv2
import numpy as np

KNOWN_COLOUR = (80, 200, 60)
UNKNOWN_COLOUR = (40, 160, 255)


def label_for(face) -> str:
    if not face.known:
        return "unknown"
    return face.name or face.identity_hash[:10]


def draw_faces(image: np.ndarray, faces) -> np.ndarray:
    """A copy of image with a box and a label on every face (the captured frame stays untouched)."""
    canvas = image.copy()
    for face in faces:
        b = face.box
        colour = KNOWN_COLOUR if face.known else UNKNOWN_COLOUR
        cv2.rectangle(canvas, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
        text = label_for(face)
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        top = max(b.y - height - 8, 0)
        cv2.rectangle(canvas, (b.x, top), (b.x + width + 8, top + height + 8), colour, -1)
        cv2.putText(canvas, text, (b.x + 4, top + height + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def placeholder(message: str, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A dark frame saying why there is no picture."""
    width, height = size
    canvas = np.full((height, width, 3), 32, dtype=np.uint8)
    cv2.putText(canvas, "camera offline", (24, height // 2 - 10), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2, cv2.LINE_AA)
    cv2.putText(canvas, message[:70], (24, height // 2 + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (170, 170, 170), 1, cv2.LINE_AA)
    return canvas
