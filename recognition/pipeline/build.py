"""Building the recognition parts once, the same way for the server, the tools and the tests."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from recognition.matching.matcher import Matcher, default_threshold
from recognition.models.aligner import LandmarkAligner
from recognition.models.detectors import make_detector
from recognition.models.embedder_process import EmbedderProcess
from recognition.models.weights import AUTO, DLIB, ModelChoice, WeightsMissing, landmark_model_path, resolve_model
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.interface import FaceStore


def build_analyzer(store: FaceStore, model_name: str, weights_dir: Path, threshold: Optional[float] = None,
                   *, detector: str = "haar", min_face: int = 40) -> FaceAnalyzer:
    """Detector (for photos: uploads and albums), aligner, embedder (model loaded now, in its own
    process) and matcher for model_name."""
    embedder = EmbedderProcess(model_name, weights_dir).load()
    if threshold is None:
        threshold = default_threshold(model_name, embedder.reported_threshold)
    return FaceAnalyzer(
        detector=make_detector(detector, min_face=min_face, mtcnn=embedder),
        aligner=LandmarkAligner(landmark_model_path()),
        embedder=embedder,
        matcher=Matcher(store, model_name, threshold),
    )


def build_for_request(
    requested: str,
    store: FaceStore,
    weights_dir: Path,
    threshold: Optional[float] = None,
    *,
    allow_download: bool = True,
    detector: str = "haar",
    min_face: int = 40,
) -> tuple[FaceAnalyzer, ModelChoice]:
    """Resolve 'auto' or a named model and build it. If 'auto' chose Facenet for a download that
    then fails, fall back to Dlib rather than refuse to start; a named model that cannot load raises
    WeightsMissing."""
    choice = resolve_model(requested, weights_dir, allow_download=allow_download)
    try:
        return build_analyzer(store, choice.name, weights_dir, threshold, detector=detector, min_face=min_face), choice
    except WeightsMissing as exc:
        if requested != AUTO or choice.name == DLIB:
            raise
        resolve_model(DLIB, weights_dir)  # puts the shipped Dlib weights in place
        return (build_analyzer(store, DLIB, weights_dir, threshold, detector=detector, min_face=min_face),
                ModelChoice(DLIB, str(exc)))
