"""The store of known identities: <data_dir>/faces.pkl, vectors and names only, never images.

Promises, and where they are kept:
- crash-safe: every change is written atomically (atomic.write_atomically) and acknowledged only
  after that returns; one writer per data dir (atomic.DataDirLock);
- tamper-proof and encrypted: store_file signs, encrypts and strictly unpickles the file; the key
  lives outside the data dir (vault);
- versioned: a version-1 file is migrated on open, after an encrypted backup of it is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from recognition.store import legacy as store_file
from recognition.store.atomic import DataDirLock, fsync_folder, remove_stale_temporaries, write_atomically
from recognition.store.identity import Identity
from recognition.store.legacy import StoreRejected
from recognition.store.vault import StoreKey, StoreKeyError, check_outside, pending_key_path, seal, unseal

log = logging.getLogger(__name__)

STORE_FILE = "faces.pkl"
SECRET_FILE = "installation_secret"
BACKUP_SUFFIX = ".backup"

__all__ = ["FaceStore", "Identity", "StoreRejected", "StoreKeyError", "Gallery", "gallery_of", "STORE_FILE", "SECRET_FILE"]


@dataclass(frozen=True)
class Gallery:
    """An immutable snapshot of one model's identities, ready for matrix products."""

    hashes: tuple[str, ...]
    names: tuple[Optional[str], ...]
    vectors: np.ndarray  # (k, d) unit rows
    owners: np.ndarray  # (k,) index into hashes for each row
    rejections: np.ndarray  # (r, d) faces said to be "not" their owner
    rejection_owners: np.ndarray  # (r,)


class FaceStore:
    """Thread-safe store of identities. Readers get snapshots; writers hold transaction().

    read_only opens without the writer lock and never writes (for listing or exporting while a server
    runs); it cannot migrate or finish a key rotation.
    """

    def __init__(self, data_dir: Path, key_path: Path, *, read_only: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / STORE_FILE
        self.key_path = Path(key_path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._galleries: dict[str, Gallery] = {}
        check_outside(self.key_path, self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._dir_lock = None if read_only else DataDirLock(self.data_dir).acquire()
        try:
            if not read_only:
                for leftover in remove_stale_temporaries(self.data_dir):
                    log.info("removed %s, left by an interrupted write", leftover.name)
            data = self.path.read_bytes() if self.path.exists() else None
            self.secret = self._load_or_create_secret(data)
            self._identities = {i.hash: i for i in self._open(data)}
        except BaseException:
            self.close()
            raise
        log.info("loaded %d identities from %s", len(self._identities), self.path)

    def close(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    def __enter__(self) -> "FaceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------
    def gallery(self, model: str) -> Gallery:
        """The identities enrolled with model (a Dlib vector is never compared with a Facenet one)."""
        with self._lock:
            cached = self._galleries.get(model)
            if cached is None:
                cached = self._galleries[model] = gallery_of([i for i in self._identities.values() if i.model == model])
            return cached

    def identities(self) -> list[Identity]:
        with self._lock:
            return sorted(self._identities.values(), key=lambda i: i.created)

    def get(self, identity_hash: str) -> Optional[Identity]:
        with self._lock:
            return self._identities.get(identity_hash)

    def find_by_email_hash(self, email_hash: str) -> Optional[Identity]:
        with self._lock:
            return next((i for i in self._identities.values() if i.email_hash == email_hash), None)

    def email_hash(self, email: str) -> str:
        """Keyed hash of a normalized email: comparable within this installation, useless outside it."""
        normalized = email.strip().lower().encode()
        return hmac.new(self.secret, b"email\0" + normalized, hashlib.sha256).hexdigest()

    def __len__(self) -> int:
        return len(self._identities)

    # -- writing: each returns only after the change is on disk ---------------------------------
    def transaction(self) -> "threading.RLock":
        """Hold this to check-then-write atomically (e.g. "not yet enrolled, so enroll")."""
        return self._lock

    def add(self, identity: Identity) -> None:
        self.add_many([identity])

    def add_many(self, identities: Iterable[Identity]) -> None:
        with self._lock:
            changed = dict(self._identities)
            for identity in identities:
                if identity.hash in changed:
                    raise ValueError(f"identity {identity.hash} already exists")
                changed[identity.hash] = identity
            self._commit(changed)

    def update(self, identity_hash: str, **changes) -> Identity:
        """Replace fields of an identity (name, embeddings, rejections, email_hash); KeyError if absent."""
        with self._lock:
            updated = dataclasses.replace(self._identities[identity_hash], **changes)
            self._commit({**self._identities, identity_hash: updated})
            return updated

    def remove(self, identity_hash: str) -> Identity:
        """Delete an identity and every vector of it from the file; KeyError if absent."""
        with self._lock:
            changed = dict(self._identities)
            removed = changed.pop(identity_hash)
            self._commit(changed)
            return removed

    def rotate_key(self) -> StoreKey:
        """Re-encrypt the store and its backups under a new key, then make that key current.

        The new key is first written beside the old one (<key>.next). A crash at any point leaves every
        file readable by one of the two keys, and the next open finishes the rotation.
        """
        with self._lock:
            self._require_writable("rotate the key")
            new_key = StoreKey.generate().write(pending_key_path(self.key_path))
            self._finish_rotation(new_key)
            return self.key

    def _commit(self, identities: dict[str, Identity]) -> None:
        """Write identities to disk, then (only then) make them what readers see."""
        self._require_writable("change the store")
        data = store_file.encode(list(identities.values()), self.key, self.secret)
        write_atomically(self.path, data)
        self._identities = identities
        self._galleries = {}

    def _require_writable(self, action: str) -> None:
        if self.read_only:
            raise PermissionError(f"the store was opened read-only; cannot {action}")

    # -- opening ---------------------------------------------------------------------------
    def _open(self, data: Optional[bytes]) -> list[Identity]:
        what = str(self.path)
        if data is None:
            self.key = self._read_or_create_key()
            return []
        if store_file.is_legacy(data):
            identities = store_file.decode_legacy(data, what)
            self.key = self._read_or_create_key()
            if not self.read_only:
                self._migrate(data, identities)
            return identities
        keys = self._keys(required_for=what)
        identities = store_file.decode(data, keys, self.secret, what)
        pending = [k for k in keys if k.path == pending_key_path(self.key_path)]
        self.key = next((k for k in keys if k.path == self.key_path), pending[0] if pending else None)
        if pending and not self.read_only:
            log.warning("finishing a key rotation that was interrupted (%s)", pending[0].path)
            self._identities = {i.hash: i for i in identities}
            self._finish_rotation(pending[0])
        return identities

    def _keys(self, required_for: str) -> list[StoreKey]:
        keys = []
        for path in (self.key_path, pending_key_path(self.key_path)):
            if path.exists():
                keys.append(StoreKey.read(path))
        if not keys:
            raise StoreKeyError(f"{required_for} is encrypted and its key is not at {self.key_path}; point "
                                f"--key-file (FACE_KEY_FILE) at the key it was created with. Without it the "
                                f"store cannot be read.")
        return keys

    def _read_or_create_key(self) -> StoreKey:
        if self.key_path.exists():
            return StoreKey.read(self.key_path)
        if self.read_only:
            raise StoreKeyError(f"no store key at {self.key_path}")
        key = StoreKey.generate().write(self.key_path)
        log.info("created a new store key at %s (mode 0600); back it up: without it the store is unreadable",
                 self.key_path)
        return key

    def _migrate(self, original: bytes, identities: list[Identity]) -> None:
        backup = self.path.with_name(f"{STORE_FILE}.v1{BACKUP_SUFFIX}")
        write_atomically(backup, seal(self.key, store_file.BACKUP_MAGIC, original))  # encrypted, never clear
        self._commit({i.hash: i for i in identities})
        log.warning("migrated %s from schema version 1 to %d; the old file is kept, encrypted, as %s",
                    self.path.name, store_file.SCHEMA_VERSION, backup.name)

    def _finish_rotation(self, new_key: StoreKey) -> None:
        old_keys = [k for k in self._keys(required_for=str(self.path)) if k.key_id != new_key.key_id]
        self.key = new_key
        self._commit(dict(self._identities))
        for backup in self.backups():
            plain = unseal(old_keys + [new_key], store_file.BACKUP_MAGIC, backup.read_bytes(), str(backup))
            write_atomically(backup, seal(new_key, store_file.BACKUP_MAGIC, plain))
        os.replace(new_key.path, self.key_path)
        fsync_folder(self.key_path.parent)
        self.key = StoreKey(new_key.secret, self.key_path)
        log.info("the store key is now %s", self.key.fingerprint)

    def backups(self) -> list[Path]:
        return sorted(self.data_dir.glob(f"{STORE_FILE}.*{BACKUP_SUFFIX}"))

    def _load_or_create_secret(self, data: Optional[bytes]) -> bytes:
        path = self.data_dir / SECRET_FILE
        if path.exists():
            secret = path.read_bytes()
            if len(secret) != 32:
                raise StoreRejected(f"{path} is not a 32-byte installation secret")
            return secret
        if data is not None and not store_file.is_legacy(data):
            raise StoreRejected(f"{path} is missing, so {self.path} cannot be verified; restore it from a backup")
        if self.read_only:
            return b""
        secret = secrets.token_bytes(32)
        write_atomically(path, secret, mode=0o600)
        log.info("created a new installation secret at %s", path)
        return secret


def gallery_of(members: list[Identity]) -> Gallery:
    """The matrices for matching against members (all of one model)."""
    def stack(field: str) -> tuple[np.ndarray, np.ndarray]:
        rows = [(v, index) for index, identity in enumerate(members) for v in getattr(identity, field)]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.vstack([v for v, _ in rows]).astype(np.float32), np.asarray([o for _, o in rows], dtype=np.int64)

    vectors, owners = stack("embeddings")
    rejections, rejection_owners = stack("rejections")
    return Gallery(
        hashes=tuple(i.hash for i in members),
        names=tuple(i.name for i in members),
        vectors=vectors,
        owners=owners,
        rejections=rejections,
        rejection_owners=rejection_owners,
    )
