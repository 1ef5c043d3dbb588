"""MTCNN behind the detector seam. Its networks run in the model process, where TensorFlow already lives
(recognition/models/mtcnn_model.py); this side only scales images down, sends them and turns the answers
into boxes, so the server process never imports TensorFlow.

MTCNN's own box runs from the forehead to the chin but only from cheek to cheek (on the fixture portraits
1.09 times as tall and 0.78 times as wide as Haar's square, about the same centre). Each is made a square
as wide as it is tall around that centre, sized like Haar's; the aligner's landmarks in it are as close to
MTCNN's eye points as in Haar's box (5% of the eye distance on average).

A search of the whole image gives the candidates; each is then looked at again in a square around it at
another scale, and kept if found there too (MtcnnDetector's confirm).
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

from recognition.faces import Box, Detection, centre_inside
from recognition.models.detectors.tiled import clipped, cut, merged

# px: the side the smallest face asked for is scaled down to before MTCNN looks. Its P-Net sees faces from
# 12 px; mtcnn 1.0.0 fails when asked for faces over ~24 px (mtcnn_model.SAFE_MIN_FACE), so larger
# min_face values are met by scaling the image down, which also keeps large frames cheap.
MTCNN_FACE = 20
NEAR_FACE = 2 * MTCNN_FACE  # px at most: a followed face's side in its square, so it is still found at half that
NEAR_SQUARE = 3  # a followed face's square, in face sides: room for the face to have moved


@runtime_checkable
class RunsMtcnn(Protocol):
    """What MtcnnDetector asks of the model process (EmbedderProcess), where MTCNN's networks run."""

    def find_faces(self, image: np.ndarray, min_face: int, min_confidence: float = 0.9) -> list[tuple]:
        """MTCNN's faces in a BGR image: (x, y, w, h, confidence, five [x, y] keypoints)."""

    def find_faces_batch(self, images: list[np.ndarray], min_face: int,
                         min_confidence: float = 0.9) -> list[list[tuple]]:
        """find_faces for several images in one request."""


class MtcnnDetector:
    """Faces that MTCNN's last network (O-Net, which also places five landmarks) is confident about, each
    confirmed by a second look at another scale.

    process: the model process (EmbedderProcess) that runs MTCNN; its timeouts, restarts and
    EmbedderUnavailable apply as for embeddings. min_face: the smallest face side looked for, in pixels
    of the image given (smaller: finer searching, slower; images are scaled down so that min_face becomes
    20 px). min_confidence: the O-Net score a new face needs in the search of the whole image (higher:
    fewer false faces in patterned walls, hair and crowds, more missed faces that are small, dark or
    turned; the fixtures' faces score 0.94 and above). near_confidence: the score needed in a look around
    a face already found (detect_near, and the confirmation): lower, since a face is known to be there
    (MTCNN's own default, 0.8; turned faces of the fixture clip score 0.89 there).

    confirm: look at each candidate again in a square around it where the face is 40 px, another scale
    than the search's for all but the smallest faces. A texture that looked like a face at one scale
    rarely does at another (a patch of hair in lin1.png scores 0.97 at half size and is not found at all
    at 40 px), while every real face of the fixture photos, of ten frames of the fixture clip and of twenty
    of the crowd scene is found again; it costs a second request. near_batch: the squares sent in one
    request (larger: fewer round trips, but each holds the model process longer while embeddings wait).
    """

    name = "mtcnn"

    def __init__(self, process: RunsMtcnn, *, min_face: int = 40, min_confidence: float = 0.9,
                 near_confidence: float = 0.8, confirm: bool = True, near_batch: int = 8) -> None:
        self.min_face = min_face
        self.min_confidence = min_confidence
        self.near_confidence = near_confidence
        self._process = process
        self._confirm = confirm
        self._near_batch = max(1, near_batch)

    def candidates(self, image: np.ndarray) -> list[Box]:
        """Every face of the whole-image search, not yet confirmed, largest first: what a privacy search
        hides (hiding a false face costs little; missing a real one leaks it)."""
        image = _bgr(image)
        height, width = image.shape[:2]
        scale = min(1.0, MTCNN_FACE / self.min_face)
        small = image
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        faces = self._process.find_faces(small, round(self.min_face * scale), self.min_confidence)
        factor = (width / small.shape[1], height / small.shape[0])
        boxes = [clipped(_square(face, factor, 0, 0), width, height) for face in faces]
        return sorted((box for box in boxes if box.w > 0 and box.h > 0), key=lambda b: b.area, reverse=True)

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of the faces in a BGR image, in its pixels, largest first: the candidates found again by
        the closer look (with confirm)."""
        found = self.candidates(image)
        if not self._confirm or not found:
            return found
        looks = self._look_near(image, found, NEAR_FACE)
        return [box for box, seen in zip(found, looks)
                if any(centre_inside(other, box) and centre_inside(box, other) for other, _ in seen)]

    def detect_all(self, image: np.ndarray) -> list[Detection]:
        return [Detection(box) for box in self.detect(image)]

    def detect_profiles(self, image: np.ndarray, frontal: list[Box]) -> list[Detection]:
        return []  # MTCNN's own boxes include faces turned well away

    def detect_near(self, image: np.ndarray, boxes: Sequence[Box], face_side: int = 80) -> list[Detection]:
        """Each followed face looked for in a square NEAR_SQUARE times its side around it, scaled so the face
        is face_side px (at most NEAR_FACE) and searched for faces from half that: a cheap look, every
        square of a frame the same size, sent near_batch at a time."""
        if not boxes:
            return []
        looks = self._look_near(image, boxes, max(1, min(face_side, NEAR_FACE)))
        return [Detection(box) for box in merged([found for seen in looks for found in seen])]

    def _look_near(self, image: np.ndarray, boxes: Sequence[Box], face: int) -> list[list[tuple[Box, float]]]:
        """The faces (box in the frame, score) found in each box's square, the box scaled to face px."""
        image = _bgr(image)
        height, width = image.shape[:2]
        target = NEAR_SQUARE * face
        squares = []
        for box in boxes:
            side = NEAR_SQUARE * max(box.w, box.h, 1)
            squares.append((box.x + box.w // 2 - side // 2, box.y + box.h // 2 - side // 2, side))
        looks: list[list[tuple[Box, float]]] = []
        for start in range(0, len(squares), self._near_batch):
            chunk = squares[start : start + self._near_batch]
            crops = [cv2.resize(cut(image, *square), (target, target),
                                interpolation=cv2.INTER_AREA if square[2] > target else cv2.INTER_LINEAR)
                     for square in chunk]
            answers = self._process.find_faces_batch(crops, face // 2, self.near_confidence)
            for (left, top, side), faces in zip(chunk, answers):
                boxes_found = [(clipped(_square(f, (side / target, side / target), left, top), width, height), f[4])
                               for f in faces]
                looks.append([(box, score) for box, score in boxes_found if box.w > 0 and box.h > 0])
        return looks


def _square(face: tuple, factor: tuple[float, float], left: int, top: int) -> Box:
    """MTCNN's box (in a scaled image or square at left, top) as a square in the frame, as tall as MTCNN's."""
    x, y, w, h = face[:4]
    cx, cy = left + (x + w / 2) * factor[0], top + (y + h / 2) * factor[1]
    side = h * factor[1]
    return Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side))


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
