"""How good a face is for an embedding: large, sharp and frontal. Each part is a score in [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.faces import Box

FULL_SIZE = 100  # a face side (px) at or above which size no longer limits the embedding
FULL_SHARPNESS = 120.0  # variance of the Laplacian of the face at 100x100 that counts as sharp
MAX_YAW_OFFSET = 0.35  # nose offset from the eyes' midpoint, in eye distances, at which a face counts as profile


@dataclass(frozen=True)
class FaceQuality:
    size: float
    sharpness: float
    frontal: float

    @property
    def overall(self) -> float:
        """The product: one poor part is enough to make a face a poor sample."""
        return self.size * self.sharpness * self.frontal

    def to_json(self) -> dict:
        return {"overall": round(self.overall, 3), "size": round(self.size, 3),
                "sharpness": round(self.sharpness, 3), "frontal": round(self.frontal, 3)}


def face_quality(image: np.ndarray, box: Box, landmarks: np.ndarray) -> FaceQuality:
    side = min(box.w, box.h)
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    crop = gray[max(0, box.y) : box.y + box.h, max(0, box.x) : box.x + box.w]
    if crop.size == 0:
        return FaceQuality(0.0, 0.0, 0.0)
    crop = cv2.resize(crop, (100, 100), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    return FaceQuality(
        size=min(1.0, side / FULL_SIZE),
        sharpness=min(1.0, sharpness / FULL_SHARPNESS),
        frontal=_frontal(landmarks),
    )


def _frontal(points: np.ndarray) -> float:
    """1 for a face looking straight on, falling to 0 as the nose moves off the eyes' midpoint."""
    first_eye, second_eye, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = second_eye - first_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1.0:
        return 0.0
    offset = float(np.dot(nose - (first_eye + second_eye) / 2, axis / distance)) / distance
    return max(0.0, 1.0 - abs(offset) / MAX_YAW_OFFSET)
