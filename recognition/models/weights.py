"""Where model weights come from, and choosing the embedding model that can actually run here.

DeepFace looks for weights in <DEEPFACE_HOME>/.deepface/weights/ before it tries to download. The
Dlib model's weights ship in the face_recognition_models package, so they are copied there; Facenet's
weights must be placed there by hand or downloaded by DeepFace when the network allows it.
"""
from __future__ import annotations

import logging
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DLIB = "Dlib"
FACENET = "Facenet"
AUTO = "auto"
DLIB_WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"
FACENET_WEIGHTS = "facenet_weights.h5"
# DeepFace's own file names, so a file placed for DeepFace is found by us and vice versa.
# Where DeepFace downloads Facenet weights from (its FACENET128_WEIGHTS urls); named here because
# importing DeepFace's module to read them would pull in TensorFlow just to check the network.
FACENET_DOWNLOAD_HOSTS = ("github.com", "huggingface.co")
WEIGHT_FILES = {DLIB: DLIB_WEIGHTS, FACENET: FACENET_WEIGHTS, "Facenet512": "facenet512_weights.h5"}


class WeightsMissing(RuntimeError):
    """The chosen model's weights are not on disk and cannot be fetched; the message says what to do."""


@dataclass(frozen=True)
class ModelChoice:
    name: str
    reason: str


def shipped_model(file_name: str) -> Path:
    """A model file inside the face_recognition_models package."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise WeightsMissing(
            "the face_recognition_models package is not installed; run `make install`"
        ) from exc
    return Path(face_recognition_models.__file__).parent / "models" / file_name


def landmark_model_path() -> Path:
    return shipped_model("shape_predictor_5_face_landmarks.dat")


def pose_model_path() -> Path:
    """dlib's 68-point landmarks: the liveness challenge reads head movements from them."""
    return shipped_model("shape_predictor_68_face_landmarks.dat")


def provision_dlib_weights(weights_dir: Path) -> Path:
    """Copy the Dlib recognition weights from face_recognition_models into DeepFace's folder."""
    target = Path(weights_dir) / DLIB_WEIGHTS
    source = shipped_model(DLIB_WEIGHTS)
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)  # a crash mid-copy never leaves a truncated weights file behind
    log.info("provisioned Dlib weights at %s", target)
    return target


def facenet_reachable(timeout: float = 3.0) -> bool:
    """Whether one of DeepFace's download hosts for Facenet answers at all (fails fast offline)."""
    for host in FACENET_DOWNLOAD_HOSTS:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def missing_weights_message(model: str, weights_dir: Path) -> str:
    file_name = WEIGHT_FILES.get(model, "the weights file")
    return (
        f"{model} weights not found at {Path(weights_dir) / file_name} and could not be downloaded; "
        f"place {file_name} there or run with --model {DLIB}"
    )


def resolve_model(requested: str, weights_dir: Path, *, allow_download: bool = True) -> ModelChoice:
    """Decide which embedding model to run.

    'auto' prefers Facenet when its weights are on disk or its download host is reachable, and
    otherwise uses Dlib, whose weights are always available. A named model is used as asked, and
    fails with WeightsMissing if it cannot be.
    """
    weights_dir = Path(weights_dir)
    if requested == DLIB:
        provision_dlib_weights(weights_dir)
        return ModelChoice(DLIB, "requested")
    facenet_file = weights_dir / FACENET_WEIGHTS
    if requested == AUTO:
        if facenet_file.is_file():
            return ModelChoice(FACENET, f"weights found at {facenet_file}")
        if allow_download and facenet_reachable():
            return ModelChoice(FACENET, "weights will be downloaded by DeepFace")
        provision_dlib_weights(weights_dir)
        return ModelChoice(DLIB, missing_weights_message(FACENET, weights_dir))
    file_name = WEIGHT_FILES.get(requested)
    if file_name and not (weights_dir / file_name).is_file() and not (allow_download and facenet_reachable()):
        raise WeightsMissing(missing_weights_message(requested, weights_dir))
    return ModelChoice(requested, "requested")
