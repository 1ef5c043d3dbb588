"""Building the recognition parts once, the same way for the server, the tools and the tests."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from recognition.aligner import LandmarkAligner
from recognition.analyzer import FaceAnalyzer
from recognition.detector import HaarDetector
from recognition.embedder import DeepFaceEmbedder
from recognition.matcher import Matcher
from recognition.store import FaceStore
from recognition.weights import landmark_model_path


def build_analyzer(store: FaceStore, model_name: str, weights_dir: Path, threshold: Optional[float] = None) -> FaceAnalyzer:
    """Detector, aligner, embedder (model loaded now) and matcher for model_name."""
    embedder = DeepFaceEmbedder(model_name, weights_dir).load()
    return FaceAnalyzer(
        detector=HaarDetector(),
        aligner=LandmarkAligner(landmark_model_path()),
        embedder=embedder,
        matcher=Matcher(store, model_name, threshold),
    )
