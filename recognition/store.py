"""The pickle store of known identities: vectors and names only, never images.

Layout of <data_dir>/faces.pkl: {"version": 1, "identities": [plain dict per identity]} with numpy
arrays and builtins only. Every change is written atomically (temporary file, fsync, rename, fsync of
the folder), so a crash leaves either the old or the new store, never a torn one.
"""
from __future__ import annotations

import logging
import os
import pickle
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

STORE_FILE = "faces.pkl"
SECRET_FILE = "installation_secret"
SCHEMA_VERSION = 1


@dataclass
class Identity:
    hash: str
    model: str
    embeddings: list[np.ndarray]
    name: Optional[str] = None
    created: float = field(default_factory=time.time)

    def summary(self) -> dict:
        return {"hash": self.hash, "name": self.name, "model": self.model, "created": self.created}


@dataclass(frozen=True)
class Gallery:
    """An immutable snapshot of one model's identities, ready for matrix products."""

    hashes: tuple[str, ...]
    names: tuple[Optional[str], ...]
    vectors: np.ndarray  # (k, d) unit rows
    owners: np.ndarray  # (k,) index into hashes for each row


class FaceStore:
    """Thread-safe store of identities. Readers get snapshots; writers hold transaction()."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / STORE_FILE
        self._lock = threading.RLock()
        self.secret = self._load_or_create_secret()
        self._identities: dict[str, Identity] = self._load()
        self._galleries: dict[str, Gallery] = {}

    # -- reading ---------------------------------------------------------------------------
    def gallery(self, model: str) -> Gallery:
        """The identities enrolled with model (a Dlib vector is never compared with a Facenet one)."""
        with self._lock:
            cached = self._galleries.get(model)
            if cached is None:
                cached = self._galleries[model] = self._build_gallery(model)
            return cached

    def identities(self) -> list[Identity]:
        with self._lock:
            return sorted(self._identities.values(), key=lambda i: i.created)

    def get(self, identity_hash: str) -> Optional[Identity]:
        with self._lock:
            return self._identities.get(identity_hash)

    def __len__(self) -> int:
        return len(self._identities)

    # -- writing ---------------------------------------------------------------------------
    def transaction(self) -> "threading.RLock":
        """Hold this to check-then-write atomically (e.g. "not yet enrolled, so enroll")."""
        return self._lock

    def add(self, identity: Identity) -> None:
        with self._lock:
            if identity.hash in self._identities:
                raise ValueError(f"identity {identity.hash} already exists")
            self._identities[identity.hash] = identity
            try:
                self._commit()
            except BaseException:  # not on disk, so not enrolled: memory must agree with the file
                del self._identities[identity.hash]
                self._galleries.clear()
                raise

    def _commit(self) -> None:
        self._galleries.clear()
        payload = {
            "version": SCHEMA_VERSION,
            "identities": [
                {
                    "hash": i.hash,
                    "model": i.model,
                    "name": i.name,
                    "created": i.created,
                    "embeddings": [np.asarray(e, dtype=np.float32) for e in i.embeddings],
                }
                for i in self._identities.values()
            ],
        }
        write_atomically(self.path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    # -- loading ---------------------------------------------------------------------------
    def _load(self) -> dict[str, Identity]:
        if not self.path.exists():
            return {}
        with open(self.path, "rb") as handle:
            payload = pickle.load(handle)
        if payload.get("version") != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema version {payload.get('version')}, expected {SCHEMA_VERSION}")
        identities = {}
        for row in payload["identities"]:
            identities[row["hash"]] = Identity(
                hash=row["hash"],
                model=row["model"],
                name=row["name"],
                created=row["created"],
                embeddings=[np.asarray(e, dtype=np.float32) for e in row["embeddings"]],
            )
        log.info("loaded %d identities from %s", len(identities), self.path)
        return identities

    def _load_or_create_secret(self) -> bytes:
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return path.read_bytes()
        secret = secrets.token_bytes(32)
        write_atomically(path, secret, mode=0o600)
        log.info("created a new installation secret at %s", path)
        return secret

    def _build_gallery(self, model: str) -> Gallery:
        members = [i for i in self._identities.values() if i.model == model]
        rows, owners = [], []
        for index, identity in enumerate(members):
            for vector in identity.embeddings:
                rows.append(vector)
                owners.append(index)
        vectors = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
        return Gallery(
            hashes=tuple(i.hash for i in members),
            names=tuple(i.name for i in members),
            vectors=vectors,
            owners=np.asarray(owners, dtype=np.int64),
        )


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace path with data so that readers and crashes see either the old or the new content."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)

