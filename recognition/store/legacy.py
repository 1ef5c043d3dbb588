"""The single-file formats of earlier releases (faces.pkl), read only to migrate them to segments.

Version 2: sealed(AES-GCM, store key) pickle, followed by HMAC-SHA256 of everything before
it under the installation secret. Reading checks, in order: the magic, the HMAC, the key id, the
authentication tag, then unpickles with an unpickler that admits only numpy arrays and builtins, then
checks every field. Version 1 was a plain pickle, read through the same restricted unpickler.
encode() writes version 2 still, for the migration tests and the benchmark that measures the old
whole-file write against today's append. Exports (export.py) use the same rows.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import pickle

import numpy as np

from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.records import HASH_PATTERN, MAX_VECTOR_DIMENSIONS, restricted_loads
from recognition.store.vault import StoreKey, seal, unseal

SCHEMA_VERSION = 2
STORE_MAGIC = b"FACESTORE\x02"
BACKUP_MAGIC = b"FACEBACKUP\x01"
SIGNATURE_BYTES = 32
LEGACY_FILE = "faces.pkl"


def is_legacy(data: bytes) -> bool:
    """Version 1 files are bare pickles (protocol 2+ starts with 0x80)."""
    return data[:1] == b"\x80"


def sign(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha256).digest()


def encode(identities: list[Identity], key: StoreKey, secret: bytes) -> bytes:
    payload = {"version": SCHEMA_VERSION, "identities": [to_row(i) for i in identities]}
    sealed = seal(key, STORE_MAGIC, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    return sealed + sign(secret, sealed)


def decode(data: bytes, keys: list[StoreKey], secret: bytes, what: str) -> list[Identity]:
    """Identities from a version-2 file; StoreRejected (or vault.WrongKey) if it is not trustworthy."""
    if not data.startswith(STORE_MAGIC):
        raise StoreRejected(f"{what} is not a faceapp store (unknown header)")
    sealed, signature = data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]
    if not hmac.compare_digest(sign(secret, sealed), signature):
        raise StoreRejected(f"{what} failed its signature check (altered, or from another installation)")
    try:
        plaintext = unseal(keys, STORE_MAGIC, sealed, what)
    except ValueError as exc:
        raise StoreRejected(str(exc))
    return rows_to_identities(load_payload(plaintext, what), what, version=SCHEMA_VERSION)


def decode_legacy(data: bytes, what: str) -> list[Identity]:
    """Identities from a version-1 plain pickle, read without running anything in it."""
    return rows_to_identities(load_payload(data, what), what, version=1)


def load_payload(data: bytes, what: str) -> dict:
    payload = restricted_loads(data, what)
    if not isinstance(payload, dict) or not isinstance(payload.get("identities"), list):
        raise StoreRejected(f"{what} does not hold a list of identities")
    return payload


def rows_to_identities(payload: dict, what: str, *, version: int) -> list[Identity]:
    found = payload.get("version")
    if found != version:
        newer = isinstance(found, int) and found > SCHEMA_VERSION
        raise StoreRejected(f"{what} has schema version {found!r}, expected {version}"
                            + ("; it was written by a newer release" if newer else ""))
    identities, seen = [], set()
    for index, row in enumerate(payload["identities"]):
        try:
            identity = from_row(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreRejected(f"{what}: identity #{index} is malformed ({exc})")
        if identity.hash in seen:
            raise StoreRejected(f"{what}: identity {identity.hash} appears twice")
        seen.add(identity.hash)
        identities.append(identity)
    return identities


def to_row(identity: Identity) -> dict:
    return {
        "hash": identity.hash,
        "model": identity.model,
        "name": identity.name,
        "created": float(identity.created),
        "email_hash": identity.email_hash,
        "embeddings": np.vstack(identity.embeddings).astype(np.float32),
        "rejections": _matrix(identity.rejections, identity.embeddings[0].shape[0]),
    }


def from_row(row: dict) -> Identity:
    if not isinstance(row, dict):
        raise TypeError("not a mapping")
    identity_hash, model, name = row["hash"], row["model"], row.get("name")
    if not isinstance(identity_hash, str) or not HASH_PATTERN.fullmatch(identity_hash):
        raise ValueError("hash is not 64 hex digits")
    if not isinstance(model, str) or not model:
        raise ValueError("model is not a name")
    if name is not None and not isinstance(name, str):
        raise ValueError("name is not text")
    created = row["created"]
    if not isinstance(created, (int, float)) or not math.isfinite(created):
        raise ValueError("created is not a time")
    email_hash = row.get("email_hash")
    if email_hash is not None and (not isinstance(email_hash, str) or not HASH_PATTERN.fullmatch(email_hash)):
        raise ValueError("email_hash is not 64 hex digits")
    embeddings = _vectors(row["embeddings"], "embeddings")
    if not embeddings:
        raise ValueError("no embeddings")
    rejections = _vectors(row.get("rejections", ()), "rejections")
    if any(v.shape != embeddings[0].shape for v in embeddings + rejections):
        raise ValueError("vectors of different lengths")
    return Identity(hash=identity_hash, model=model, name=name, created=float(created),
                    email_hash=email_hash, embeddings=tuple(embeddings), rejections=tuple(rejections))


def _vectors(value, field: str) -> list[np.ndarray]:
    rows = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if rows is None:
        raise TypeError(f"{field} is not a list of vectors")
    vectors = []
    for row in rows:
        if not isinstance(row, np.ndarray) or row.dtype.kind != "f" or row.ndim != 1:
            raise TypeError(f"{field} holds something that is not a float vector")
        row = row.astype(np.float32)  # checked after the cast: 1e300 is finite, and inf as float32
        if not 0 < row.shape[0] <= MAX_VECTOR_DIMENSIONS or not np.all(np.isfinite(row)):
            raise ValueError(f"{field} holds a vector of bad length or non-finite values")
        vectors.append(row)
    return vectors


def _matrix(vectors, dimensions: int) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.vstack(vectors).astype(np.float32)
