"""Face embeddings from DeepFace, loaded once per process and L2-normalized."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

import numpy as np

from recognition.models.weights import WEIGHT_FILES, WeightsMissing, missing_weights_message

if TYPE_CHECKING:
    from recognition.models.attributes import AttributeChips, Attributes
    from recognition.models.embedder_process import EmbedderStatus

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the server holds to embed faces (EmbedderProcess: the model in a child process). input_size and
    dimensions are None until the model has been loaded."""

    model_name: str
    input_size: Optional[int]  # the side of the square chips the model takes, in pixels
    dimensions: Optional[int]  # of each embedding

    @property
    def status(self) -> "EmbedderStatus":
        """Whether the model can answer now, and if not why (shown by /health)."""

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """An (n, d) float32 array of unit embeddings, one row per aligned BGR chip."""

    def attributes(self, chips: Sequence["AttributeChips"]) -> list["Attributes"]:
        """Age, gender and emotion of each face, in the order of chips (AttributesMissing: no models)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Release the model for good; later calls fail (EmbedderUnavailable)."""


class DeepFaceEmbedder:
    """Turns aligned face chips into unit vectors with one DeepFace model: the part inside the model
    process (EmbedderProcess, which is the server's Embedder, runs one in its child).

    The model is built on load() (not at import, not in the constructor) because TensorFlow and the
    weights take seconds to load; the same instance is then shared by every thread.
    """

    def __init__(self, model_name: str, weights_dir: Path) -> None:
        self.model_name = model_name
        self._weights_dir = Path(weights_dir)
        self._model = None
        self._represent: Optional[Callable[..., Any]] = None  # DeepFace.represent, once loaded
        self._lock = threading.Lock()
        self.input_size: Optional[int] = None
        self.dimensions: Optional[int] = None

    def load(self) -> "DeepFaceEmbedder":
        with self._lock:
            if self._model is None:
                self._model = self._build()
        return self

    def _build(self):
        from deepface import DeepFace  # heavy import: TensorFlow comes with it

        try:
            model = DeepFace.build_model(self.model_name)
        except ValueError as exc:
            file_name = WEIGHT_FILES.get(self.model_name)
            if file_name is None:
                raise
            weights = self._weights_dir / file_name
            if weights.is_file():
                raise WeightsMissing(
                    f"{self.model_name} weights at {weights} could not be loaded ({exc.__cause__ or exc}); "
                    f"replace the file with DeepFace's {file_name} or run with --model Dlib"
                ) from exc
            raise WeightsMissing(missing_weights_message(self.model_name, self._weights_dir)) from exc
        self._represent = DeepFace.represent
        height, width = model.input_shape
        self.input_size = int(height)
        self.dimensions = int(model.output_shape)
        log.info("loaded DeepFace %s (%d-d embeddings, %dpx input)", self.model_name, self.dimensions, height)
        return model

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """An (n, d) float32 array of unit embeddings, one row per BGR chip."""
        if not chips:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        represent = self.load()._represent
        if represent is None:  # load() sets it or raises
            raise RuntimeError(f"DeepFace {self.model_name} was not loaded")
        with self._lock:  # one inference at a time: the model is shared and the machine has 2 cores
            results = represent(
                img_path=list(chips),
                model_name=self.model_name,
                detector_backend="skip",
                enforce_detection=False,
                align=False,
            )
        # DeepFace returns a flat list of dicts for one image and a list of lists for a batch.
        rows = [r[0] if isinstance(r, list) else r for r in results] if len(chips) > 1 else [results[0]]
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        return normalize(vectors)


def chip_size(embedder: Embedder) -> int:
    """The side of the chips embedder takes; RuntimeError before its model was loaded (it is loaded when
    the server's parts are built, so this never happens in a running server)."""
    if embedder.input_size is None:
        raise RuntimeError(f"the {embedder.model_name} model has not been loaded yet: call load() first")
    return embedder.input_size


def deepface_threshold(model_name: str) -> Optional[float]:
    """DeepFace's published cosine threshold for model_name, as a similarity (None if it has none).
    Called in the model process only: it imports DeepFace."""
    from deepface.modules.verification import find_threshold

    try:
        return 1.0 - float(find_threshold(model_name, "cosine"))
    except Exception:  # a model DeepFace has no threshold for
        return None


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
