"""The body of a segment record: a batch of identities, pickled by column and sealed with the store key.

A batch holds one group per model; each group keeps its identities' labels in lists and their vectors
in one matrix, so opening a million identities unseals and unpickles a few hundred records, not a
million. Bodies are opened with an unpickler that admits numpy arrays and builtins only, and every
field is checked before anything is used.
"""
from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.vault import StoreKey, seal, unseal

RECORD_MAGIC = b"FACEREC\x03"
RECORD_VERSION = 5
# 3: before attributes (read as none). 4: without a place in the store's history; the PostgreSQL store
# still writes 4 (its rows are bound to their place by a tag), so servers of the release before read them.
READABLE_VERSIONS = (3, 4, 5)
PLACED_VERSION = 5  # adds the generation (the store write that made the record) and the segment it belongs in
MAX_ATTRIBUTES = 1000  # characters of one identity's attributes JSON
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
ALL_HEX = re.compile(r"[0-9a-f]*")
MAX_VECTOR_DIMENSIONS = 8192

# The only globals a store pickle may name: what numpy needs to rebuild an array. Anything else
# (os.system, subprocess, eval, ...) is refused before it can be called.
ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),  # pickle protocol < 5
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),  # protocol 5
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def restricted_loads(data: bytes, what: str) -> Any:
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # UnpicklingError, EOFError, ValueError...: all mean "not ours"
        raise StoreRejected(f"{what} could not be read safely: {exc}")


@dataclass
class Group:
    """Identities of one model, by column."""

    model: str
    hashes: list[str]
    names: list[Optional[str]]
    created: np.ndarray  # (n,) float64 unix times
    emails: list[Optional[str]]  # keyed email hashes
    vector_counts: np.ndarray  # (n,) vectors per identity, at least 1
    vectors: np.ndarray  # (sum of counts, d) float32
    rejection_counts: np.ndarray  # (n,)
    rejections: np.ndarray  # (sum of counts, d) float32
    attributes: list[Optional[str]]  # JSON of age, gender and emotion at registration

    @classmethod
    def of(cls, model: str, identities: Sequence[Identity]) -> "Group":
        dims = identities[0].embeddings[0].shape[0]
        rejections = [v for i in identities for v in i.rejections]
        return cls(
            model=model,
            hashes=[i.hash for i in identities],
            names=[i.name for i in identities],
            created=np.array([i.created for i in identities], dtype=np.float64),
            emails=[i.email_hash for i in identities],
            vector_counts=np.array([len(i.embeddings) for i in identities], dtype=np.int64),
            vectors=np.vstack([v for i in identities for v in i.embeddings]).astype(np.float32),
            rejection_counts=np.array([len(i.rejections) for i in identities], dtype=np.int64),
            rejections=np.vstack(rejections).astype(np.float32) if rejections else np.zeros((0, dims), np.float32),
            attributes=[i.attributes for i in identities],
        )

    def identities(self) -> Iterator[Identity]:
        vectors = np.split(self.vectors, np.cumsum(self.vector_counts)[:-1])
        rejections = np.split(self.rejections, np.cumsum(self.rejection_counts)[:-1])
        for index, identity_hash in enumerate(self.hashes):
            yield Identity(hash=identity_hash, model=self.model, name=self.names[index],
                           created=float(self.created[index]), email_hash=self.emails[index],
                           embeddings=tuple(vectors[index]), rejections=tuple(rejections[index]),
                           attributes=self.attributes[index])

    def to_dict(self) -> dict:
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


def group_by_model(identities: Sequence[Identity]) -> list[Group]:
    models: dict[str, list[Identity]] = {}
    for identity in identities:
        models.setdefault(identity.model, []).append(identity)
    return [Group.of(model, members) for model, members in models.items()]


@dataclass(frozen=True)
class Place:
    """Where a record belongs in the file store's history, sealed with it so that a copy of the data dir
    cannot move it: the write that made it (generation) and the segment it was written to."""

    generation: int
    segment: int


def encode(groups: Sequence[Group], key: StoreKey, place: Optional[Place] = None) -> bytes:
    """A sealed record; with place (the file store), version 5, else version 4 (the PostgreSQL store)."""
    payload = {"version": 4 if place is None else RECORD_VERSION, "groups": [g.to_dict() for g in groups if g.hashes]}
    if place is not None:
        payload.update(generation=place.generation, segment=place.segment)
    return seal(key, RECORD_MAGIC, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def decode(body: bytes, keys: list[StoreKey], what: str) -> list[Group]:
    """The groups of a record body; StoreRejected (or vault.WrongKey) if it is not trustworthy."""
    return decode_placed(body, keys, what)[0]


def decode_placed(body: bytes, keys: list[StoreKey], what: str) -> tuple[list[Group], Optional[Place]]:
    """The groups of a record body and its place (None: a record of version 3 or 4, written before the
    file store had generations); StoreRejected (or vault.WrongKey) if it is not trustworthy."""
    try:
        plaintext = unseal(keys, RECORD_MAGIC, body, what)
    except ValueError as exc:
        raise StoreRejected(str(exc))
    payload = restricted_loads(plaintext, what)
    if not isinstance(payload, dict) or not isinstance(payload.get("groups"), list):
        raise StoreRejected(f"{what} does not hold groups of identities")
    found = payload.get("version")
    if found not in READABLE_VERSIONS:
        newer = isinstance(found, int) and found > RECORD_VERSION
        raise StoreRejected(f"{what} has record version {found!r}, expected {RECORD_VERSION}"
                            + ("; it was written by a newer release" if newer else ""))
    groups = []
    for index, raw in enumerate(payload["groups"]):
        try:
            if found == 3 and isinstance(raw, dict) and "attributes" not in raw:
                raw = {**raw, "attributes": [None] * len(raw.get("hashes") or [])}
            groups.append(checked_group(raw))
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreRejected(f"{what}: group #{index} is malformed ({exc})")
    if found < PLACED_VERSION:
        return groups, None
    generation, segment = payload.get("generation"), payload.get("segment")
    if type(generation) is not int or type(segment) is not int or generation < 0 or segment < 0:
        raise StoreRejected(f"{what} does not say which write made it and where it belongs")
    return groups, Place(generation, segment)


def checked_group(raw) -> Group:
    if not isinstance(raw, dict) or set(raw) != set(Group.__dataclass_fields__):
        raise TypeError("not a group of identities")
    group = Group(**raw)
    if not isinstance(group.model, str) or not group.model:
        raise ValueError("model is not a name")
    count = len(check_list(group.hashes, "hashes", {str}))
    if not all_hashes(group.hashes):
        raise ValueError("hashes are not 64 hex digits each")
    check_list(group.names, "names", {str, type(None)}, count)
    check_list(group.emails, "emails", {str, type(None)}, count)
    check_list(group.attributes, "attributes", {str, type(None)}, count)
    if any(a is not None and len(a) > MAX_ATTRIBUTES for a in group.attributes):
        raise ValueError(f"attributes longer than {MAX_ATTRIBUTES} characters")
    if not all_hashes([e for e in group.emails if e is not None]):
        raise ValueError("email hashes are not 64 hex digits each")
    for name in ("created", "vector_counts", "rejection_counts"):
        array = getattr(group, name)
        if not isinstance(array, np.ndarray) or array.shape != (count,) or array.dtype.kind not in "if":
            raise ValueError(f"{name} is not {count} numbers")
    if not np.all(np.isfinite(group.created)):
        raise ValueError("created is not a time")
    for name, least, rows in (("vector_counts", 1, group.vectors), ("rejection_counts", 0, group.rejections)):
        counts = getattr(group, name)
        # Bounded before they are summed: an int64 sum can wrap round and pass for the right total.
        if counts.dtype.kind != "i" or (count and (counts.min() < least or counts.max() > len(rows))):
            raise ValueError(f"{name} are not between {least} and the rows there are")
    dims = check_matrix(group.vectors, "vectors", int(group.vector_counts.sum()), None)
    check_matrix(group.rejections, "rejections", int(group.rejection_counts.sum()), dims)
    return group


def all_hashes(values: list[str]) -> bool:
    """Whether every value is 64 lower-case hex digits (one regex over them all: a million in a blink)."""
    return all(len(v) == 64 for v in values) and ALL_HEX.fullmatch("".join(values)) is not None


def check_list(value, name: str, kinds: set, count: Optional[int] = None) -> list:
    if not isinstance(value, list) or (count is not None and len(value) != count):
        raise ValueError(f"{name} is not a list of {count if count is not None else 'entries'}")
    if not set(map(type, value)) <= kinds:
        raise ValueError(f"{name} holds an entry of the wrong kind")
    return value


def check_matrix(value, name: str, rows: int, dims: Optional[int]) -> int:
    if not isinstance(value, np.ndarray) or value.ndim != 2 or value.dtype != np.float32:
        raise TypeError(f"{name} is not a float32 matrix")
    if value.shape[0] != rows or not 0 < value.shape[1] <= MAX_VECTOR_DIMENSIONS:
        raise ValueError(f"{name} has {value.shape} rows and columns; expected {rows} rows")
    if dims is not None and value.shape[1] != dims:
        raise ValueError(f"{name} are {value.shape[1]}-d, the vectors {dims}-d")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} hold non-finite values")
    return value.shape[1]

