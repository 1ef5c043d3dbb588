"""Anonymizing a photo: every face (or every face not confirmed as a known person) pixelated or replaced by
an avatar, in memory; nothing of the photo is kept.

Faces are sought twice: the recognizer's confirmed faces (named or not), and the detector's every
face-like box, turned ones too (what the privacy search hides: hiding a false face costs nothing, missing
a real one leaks it). A box that is a known person's face stays visible with `unknown`; every other is
hidden. Every hidden face is pixelated; with avatars, one is drawn over each face large enough for
its 68 landmarks (MIN_AVATAR pixels), so where the landmarks miss, the pixels still hide.
"""
from __future__ import annotations

import secrets

import numpy as np

from recognition.faces import Box
from recognition.live.annotate import pixelate
from recognition.live.avatar import draw_avatar, face_shape
from recognition.live.tracker import overlap
from recognition.pipeline.analyzer import FaceAnalyzer

HIDE = ("all", "unknown")
WITH = ("pixels", "avatar")
MARGIN = 0.25  # a pixelated box grows by this share of its side: the hair, the ears, the chin
MIN_AVATAR = 40  # px: below this side a face is only pixelated (its landmarks are guesses)
MAX_AVATARS = 30  # avatars drawn on one photo at most (a landmark call each); the other faces stay pixelated
SAME_FACE = 0.3  # overlap above which a detector's box is the recognizer's face


class Anonymizer:
    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self._analyzer = analyzer

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
        # Every face pixelated first, avatars drawn over: where the landmarks miss (a turned or half-hidden
        # face), the pixels still hide it, as the stream does.
        canvas = pixelate(image, [_grown(box, image.shape) for box in boxes])
        if with_ == "avatar":
            seed = secrets.token_hex(8)  # a photo's strangers have no visitor id: looks drawn from nothing of theirs
            large = [box for box in boxes if min(box.w, box.h) >= MIN_AVATAR][:MAX_AVATARS]
            for number, box in enumerate(large):
                draw_avatar(canvas, face_shape(image, box), f"{seed}-{number}")
        return canvas, len(boxes)


def _grown(box: Box, shape) -> Box:
    grow = round(MARGIN * max(box.w, box.h))
    x0, y0 = max(0, box.x - grow), max(0, box.y - grow)
    x1, y1 = min(shape[1], box.x + box.w + grow), min(shape[0], box.y + box.h + grow)
    return Box(x0, y0, x1 - x0, y1 - y0)
