"""MTCNN in the model process: the `mtcnn` package's three networks on TensorFlow (P-Net proposes
windows over an image pyramid, R-Net refines them, O-Net places five landmarks and scores each face).

Imported only inside the model process (embedder_process.py), where TensorFlow is loaded already; the
server process never imports it. Nothing is downloaded: the weights ship inside the package
(mtcnn/assets/weights/*.lz4, read with lz4 and joblib) and are loaded from there by full path, since
mtcnn itself would first try a file of the same name in the working directory.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

WEIGHT_FILES = ("pnet.lz4", "rnet.lz4", "onet.lz4")
PNET_WINDOW = 12  # px: P-Net's window, the smallest face MTCNN can see
# mtcnn 1.0.0 sizes its pyramid as if min_face_size were 12: asked for faces over ~24 px, its last levels
# shrink the image below P-Net's window and the call fails. 20 px is safe for every image size; callers
# that look only for larger faces scale the image down instead (detectors/mtcnn.py).
SAFE_MIN_FACE = 20
SMALLEST_IMAGE = 24  # px, shorter side: below this the pyramid is empty and there is nothing to find
REQUIRED = {"mtcnn": "the MTCNN networks", "lz4": "reading MTCNN's weights", "joblib": "reading MTCNN's weights"}

# One face: x, y, w, h, confidence, then keypoints as [x, y] for the left eye, right eye, nose, left and
# right mouth corners (mtcnn's names: left and right as seen in the image).
Face = tuple[float, float, float, float, float, list[list[float]]]
KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MtcnnMissing(RuntimeError):
    """The mtcnn package, one of its dependencies or its weight files are not installed."""


def _package_folder(name: str) -> Path:
    try:
        spec = importlib.util.find_spec(name)  # finds the package without running its __init__
    except ImportError:
        spec = None
    if spec is None:
        raise MtcnnMissing(f"the package {name!r} is not installed and is needed for {REQUIRED[name]}: run "
                           "'make install' (requirements.txt pins mtcnn, lz4 and joblib) or use another --detector")
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    if spec.origin is None:
        raise MtcnnMissing(f"the package {name!r} has no files to load {REQUIRED[name]} from")
    return Path(spec.origin).parent


def weights_folder() -> Path:
    """The installed mtcnn package's weights folder, after checking that what reads it is installed too."""
    for name in REQUIRED:
        _package_folder(name)
    folder = _package_folder("mtcnn") / "assets" / "weights"
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise MtcnnMissing(f"MTCNN's weights {', '.join(missing)} are missing from {folder}: reinstall the package "
                           "('pip install --force-reinstall mtcnn==1.0.0')")
    return folder


class MtcnnModel:
    """The three networks with the package's weights, loaded once (a second or so)."""

    def __init__(self) -> None:
        self.weights = weights_folder()
        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StagePNet, StageRNet

        self._mtcnn = MTCNN(stages=[_compiled(StagePNet(weights=str(self.weights / "pnet.lz4"))),
                                    _compiled(StageRNet(weights=str(self.weights / "rnet.lz4"))),
                                    _compiled(StageONet(weights=str(self.weights / "onet.lz4")))])

    def find(self, images: list[np.ndarray], min_face: int, min_confidence: float) -> list[list[Face]]:
        """The faces in each BGR (or grey) image, in its pixels; a box may pass the image's edge where the face
        does. min_face: the smallest face side looked for, held within 12 to 20 px (see SAFE_MIN_FACE): scale
        the image down to look for larger faces only. min_confidence: O-Net's score a face needs (higher:
        fewer false faces, more missed small, dark or turned ones). Images of the same size are searched in
        one batch; others are padded to the largest."""
        results: list[list[Face]] = [[] for _ in images]
        usable = [i for i, image in enumerate(images) if min(image.shape[:2]) >= SMALLEST_IMAGE]
        if not usable:
            return results
        found = self._mtcnn.detect_faces([_rgb(images[i]) for i in usable], fit_to_image=False,
                                         min_face_size=int(np.clip(min_face, PNET_WINDOW, SAFE_MIN_FACE)),
                                         threshold_onet=float(min_confidence))
        for i, faces in zip(usable, found):
            results[i] = [_plain(face) for face in faces]
        return results


def _compiled(stage):
    """The stage with its network run as one TensorFlow graph (tf.function) instead of layer by layer in
    eager mode, as mtcnn does: the same faces and scores, 3 to 5 times faster here (Keras' per-layer
    overhead outweighed the small networks' arithmetic). reduce_retracing lets one trace serve every
    pyramid level's size. The stages call their network as self._model."""
    import tensorflow as tf

    stage._model = tf.function(stage.model, reduce_retracing=True)
    return stage


def _rgb(image: np.ndarray) -> np.ndarray:
    """MTCNN was trained on RGB; the project's images are BGR (or grey, or BGRA)."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., 2::-1])


def _plain(face: dict) -> Face:
    x, y, w, h = (float(v) for v in face["box"])
    points = [[float(v) for v in face["keypoints"][name]] for name in KEYPOINTS]
    return x, y, w, h, float(face["confidence"]), points
