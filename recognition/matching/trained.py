"""The trained classifier on disk: sealed with the store key in `<data dir>/classifier.sealed` (a side
file, so a key rotation re-seals it), tagged with a fingerprint of the people it learned, so that it
is reported stale once anyone is enrolled, given photos or deleted."""
from __future__ import annotations

import hashlib
import logging
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from recognition.matching.classifier import Model, Report
from recognition.store.atomic import write_atomically
from recognition.store.interface import StoreRejected
from recognition.store.records import restricted_loads
from recognition.store.vault import StoreKey, StoreKeyError, seal, unseal

log = logging.getLogger(__name__)

MAGIC = b"FACECLS\x01"
FILE = "classifier.sealed"


@dataclass(frozen=True)
class Trained:
    model: Model
    report: Report
    fingerprint: str  # of the people it learned (people_fingerprint)
    model_name: str  # the embedding model of its vectors


def people_fingerprint(summaries) -> str:
    """Changes whenever a person is added, removed or given vectors (from the store's summaries: no
    vector is copied to compute it)."""
    digest = hashlib.sha256()
    for summary in sorted(summaries, key=lambda s: s["hash"]):
        digest.update(f"{summary['hash']}:{summary['vectors']};".encode())
    return digest.hexdigest()


class ClassifierFile:
    """The trained classifier of a data dir, read once and kept in memory; thread-safe."""

    def __init__(self, data_dir: Path, key: StoreKey) -> None:
        self.path = Path(data_dir) / FILE
        self._key = key
        self._lock = threading.Lock()
        self._loaded: Optional[Trained] = None
        self._read = False
        self.deletions = 0  # bumped by forget(): a training that saw an older count must not be saved

    def get(self) -> Optional[Trained]:
        with self._lock:
            if not self._read:
                self._read = True
                self._loaded = self._load()
            return self._loaded

    def save(self, trained: Trained, deletions: Optional[int] = None) -> bool:
        """Keep trained, unless a person was deleted since its training began (deletions: the count
        then): it may hold their vectors. False when it was not kept."""
        model = trained.model
        state = {"method": model.method, "classes": list(model.classes), "vectors": model.vectors,
                 "labels": model.labels, "weights": model.weights, "cutoff": float(model.cutoff),
                 "floors": model.floors, "layers": list(model.layers) if model.layers else None,
                 "report": trained.report.to_json(),
                 "fingerprint": trained.fingerprint,
                 "model_name": trained.model_name}
        with self._lock:
            if deletions is not None and deletions != self.deletions:
                return False
            write_atomically(self.path, seal(self._key, MAGIC, pickle.dumps(state, protocol=5)))
            self._loaded, self._read = trained, True
            return True

    def forget(self) -> None:
        """Delete the file (a person it learned was deleted: their vectors must not outlive them)."""
        with self._lock:
            self.path.unlink(missing_ok=True)
            self._loaded, self._read = None, True
            self.deletions += 1

    def _load(self) -> Optional[Trained]:
        if not self.path.exists():
            return None
        try:
            state = restricted_loads(unseal([self._key], MAGIC, self.path.read_bytes(), str(self.path)), str(self.path))
            model = Model(state["method"], list(state["classes"]), np.asarray(state["vectors"], np.float32),
                          np.asarray(state["labels"]), weights=state["weights"],
                          layers=tuple(state["layers"]) if state.get("layers") else None,
                          cutoff=float(state["cutoff"]),
                          floors=np.asarray(state["floors"], np.float32))
            figures = state["report"]
            report = Report(figures["method"], figures["people"], figures["vectors"], figures["cv_accuracy"],
                            figures["unknown_rejection"], figures.get("methods", {}))
            return Trained(model, report, str(state["fingerprint"]), str(state["model_name"]))
        except (ValueError, KeyError, TypeError, StoreKeyError, StoreRejected) as exc:
            log.warning("the trained classifier in %s cannot be read (%s); train it again", self.path, exc)
            return None
