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


def attributes_label(face) -> str:
    """"33, female, happy" when the face carries age, gender and emotion (--attributes); else ""."""
    found = getattr(face, "attributes", None)
    if not found:
        return ""
    return f"{round(found['age']['value'])}, {found['gender']['value']}, {found['emotion']['value']}"


OVERLAYS = ("boxes", "masks")


def pixelate(image: np.ndarray, boxes, block: int = 10) -> np.ndarray:
    """A copy of image with each box reduced to a few coarse blocks: no face can be made out, or found."""
    canvas = image.copy()
    for b in boxes:
        region = canvas[b.y : b.y + b.h, b.x : b.x + b.w]
        if region.size == 0:
            continue
        cells = (max(1, b.w // max(block, b.w // 6)), max(1, b.h // max(block, b.h // 6)))
        small = cv2.resize(region, cells, interpolation=cv2.INTER_AREA)
        canvas[b.y : b.y + b.h, b.x : b.x + b.w] = cv2.resize(small, (region.shape[1], region.shape[0]),
                                                               interpolation=cv2.INTER_NEAREST)
    return canvas


def draw_faces(image: np.ndarray, faces, overlay: str = "boxes") -> np.ndarray:
    """A copy of image with every face marked and labelled (the captured frame stays untouched): a box,
    or a filled, semi-transparent face-shaped mask."""
    canvas = image.copy()
    if overlay == "masks" and faces:
        tint = canvas.copy()
        for face in faces:
            b = face.box
            cv2.ellipse(tint, (b.x + b.w // 2, b.y + b.h // 2), (b.w // 2, int(b.h * 0.6)), 0, 0, 360,
                        KNOWN_COLOUR if face.known else UNKNOWN_COLOUR, -1)
        canvas = cv2.addWeighted(tint, 0.45, canvas, 0.55, 0)
    for face in faces:
        b = face.box
        colour = KNOWN_COLOUR if face.known else UNKNOWN_COLOUR
        if overlay != "masks":
            cv2.rectangle(canvas, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
        text = label_for(face)
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        top = max(b.y - height - 8, 0)
        cv2.rectangle(canvas, (b.x, top), (b.x + width + 8, top + height + 8), colour, -1)
        cv2.putText(canvas, text, (b.x + 4, top + height + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        traits = attributes_label(face)
        if traits:  # under the box, smaller: what the face shows, not who it is
            (width, height), _ = cv2.getTextSize(traits, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            below = min(b.y + b.h + 4, canvas.shape[0] - height - 8)
            cv2.rectangle(canvas, (b.x, below), (b.x + width + 8, below + height + 8), colour, -1)
            cv2.putText(canvas, traits, (b.x + 4, below + height + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return canvas


def placeholder(message: str, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A dark frame saying why there is no picture."""
    width, height = size
    canvas = np.full((height, width, 3), 32, dtype=np.uint8)
    cv2.putText(canvas, "camera offline", (24, height // 2 - 10), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2,
                cv2.LINE_AA)
    cv2.putText(canvas, message[:70], (24, height // 2 + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (170, 170, 170), 1,
                cv2.LINE_AA)
    return canvas
