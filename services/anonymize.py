"""Anonymizing a photo: every face (or every face not confirmed as a known person) pixelated or replaced by
an avatar, in memory; nothing of the photo is kept.

Faces are sought twice: the recognizer's confirmed faces (named or not), and the detector's every
face-like box, turned ones too (what the privacy search hides: hiding a false face costs nothing, missing
a real one leaks it). A box that is a known person's face stays visible with `unknown`; every other is
hidden. An avatar needs the face's 68 landmarks; a box too small or too turned for them (under
MIN_AVATAR pixels, or in profile) is pixelated instead, so nothing is left uncovered.
"""
from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING, Optional

import numpy as np

from recognition.faces import Box
from recognition.live.annotate import pixelate
from recognition.live.avatar import draw_avatar
from recognition.live.tracker import overlap
from recognition.pipeline.analyzer import FaceAnalyzer

if TYPE_CHECKING:
    from recognition.liveness.pose import HeadPoseModel

HIDE = ("all", "unknown")
WITH = ("pixels", "avatar")
MARGIN = 0.25  # a pixelated box grows by this share of its side: the hair, the ears, the chin
MIN_AVATAR = 40  # px: below this side a face is pixelated (its landmarks are guesses)
SAME_FACE = 0.3  # overlap above which a detector's box is the recognizer's face


class Anonymizer:
    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self._analyzer = analyzer
        self._pose: Optional["HeadPoseModel"] = None  # the 68 landmarks, loaded at the first avatar
        self._lock = threading.Lock()

    def anonymize(self, image: np.ndarray, *, hide: str = "all", with_: str = "pixels") -> tuple[np.ndarray, int]:
        """A copy of image with its faces hidden, and how many were."""
        if hide not in HIDE or with_ not in WITH:
            raise ValueError(f"hide is one of {HIDE}, with one of {WITH}")
        seen = self._analyzer.analyze(image)
        known = [face.box for face in seen if face.known] if hide == "unknown" else []
        boxes = [face.box for face in seen if not face.known or hide == "all"]
        for box in self._analyzer.detector.candidates(image):
            if any(overlap(box, other) >= SAME_FACE for other in boxes + known):
                continue
            boxes.append(box)
        canvas = image.copy()
        pixelated = []
        seed = secrets.token_hex(8)  # a photo's strangers have no visitor id: avatars drawn from nothing of theirs
        for number, box in enumerate(boxes):
            if with_ == "avatar" and min(box.w, box.h) >= MIN_AVATAR:
                draw_avatar(canvas, self._landmarks(image, box), f"{seed}-{number}")
            else:
                pixelated.append(_grown(box, canvas.shape))
        return pixelate(canvas, pixelated) if pixelated else canvas, len(boxes)

    def _landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        with self._lock:
            if self._pose is None:
                from recognition.liveness.pose import HeadPoseModel
                from recognition.models.weights import pose_model_path

                self._pose = HeadPoseModel(pose_model_path())
            pose = self._pose
        return pose.landmarks(image, box)


def _grown(box: Box, shape) -> Box:
    grow = round(MARGIN * max(box.w, box.h))
    x0, y0 = max(0, box.x - grow), max(0, box.y - grow)
    x1, y1 = min(shape[1], box.x + box.w + grow), min(shape[0], box.y + box.h + grow)
    return Box(x0, y0, x1 - x0, y1 - y0)
