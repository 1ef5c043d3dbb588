"""API keys with scopes, as the store keeps them: the key format, the records, and the file store's
sealed key file (`<data dir>/api_keys.sealed`). The PostgreSQL store keeps the same records in a table
of its own (postgres/api_keys.py).

A key is `fk_<id>_<secret>`: the id (8 hex digits) is public, names the key in lists, logs and
revocations, and finds its record; the secret (43 url-safe characters, 256 bits) is never kept. A record
holds an HMAC of the secret under the installation secret, which is itself sealed with the store key,
and the records are sealed with the store key as every `*.sealed` side file is (so a key rotation
re-seals them). A copy of the data dir without the key therefore cannot read the records, nor check a
guess against them. The HMAC is keyed by the installation secret rather than the store key itself so
that a key rotation, which re-seals but never re-derives, leaves every key working.

The file is written whole and atomically by `python -m tools.keys` (while a server runs: the server
holds the data dir's lock, the tool a lock of the key file's own), and read by the servers, which look
at its size and time at most once a second (webapp/http/keyring.py).
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from recognition.store.atomic import write_atomically
from recognition.store.vault import StoreKey, seal, unseal

FILE = "api_keys.sealed"
MAGIC = b"FACEKEY\x01"
# Beside the store's anchor (<anchor file>.keys), outside the data dir: how many times each data dir's key
# file was written. Plain JSON, never sealed (a key rotation must not touch it, and it holds only counts):
# whoever can write that folder can read the store key beside it anyway.
ANCHOR_SUFFIX = ".keys"
PREFIX = "fk_"
# What a key may do. admin may do everything; an endpoint no scope names needs admin (webapp/http/scopes.py).
SCOPES = ("read", "recognize", "enroll", "admin")
DEFAULT_RATE = 10.0  # requests a second a key may make steadily
DEFAULT_BURST = 60  # requests a key may make at once, after a quiet while
TOKEN = re.compile(r"fk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")


class KeysDamaged(ValueError):
    """The keys' records cannot be read (altered, truncated, or sealed with another key)."""


@dataclass(frozen=True)
class KeyRecord:
    """One key as kept: never its secret, only digest (hex of the HMAC). revoked: unix time, or None."""

    id: str
    label: str
    scopes: tuple[str, ...]
    created: float
    digest: str = field(repr=False)
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    revoked: Optional[float] = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def to_json(self) -> dict:
        return {**asdict(self), "scopes": list(self.scopes)}

    @classmethod
    def from_json(cls, data: dict) -> "KeyRecord":
        try:
            record = cls(id=str(data["id"]), label=str(data["label"]), scopes=tuple(map(str, data["scopes"])),
                         created=float(data["created"]), digest=str(data["digest"]), rate=float(data["rate"]),
                         burst=int(data["burst"]),
                         revoked=None if data.get("revoked") is None else float(data["revoked"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KeysDamaged(f"a key record is malformed ({exc})") from None
        if not re.fullmatch(r"[0-9a-f]{8}", record.id) or not set(record.scopes) <= set(SCOPES):
            raise KeysDamaged(f"a key record is malformed (id {record.id!r}, scopes {record.scopes})")
        return record


def digest(secret: bytes, key_id: str, key_secret: str) -> str:
    """The keyed hash a record keeps of a key's secret (secret: the installation secret)."""
    message = b"faceapp api key\0" + key_id.encode() + b"\0" + key_secret.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def parse(token: str) -> Optional[tuple[str, str]]:
    """(id, secret) of a key as given, or None when it is not one of ours."""
    matched = TOKEN.fullmatch(token.strip())
    return (matched[1], matched[2]) if matched else None


def matches(record: KeyRecord, secret: bytes, key_secret: str) -> bool:
    """Whether key_secret is the record's, compared in constant time."""
    return hmac.compare_digest(record.digest.encode(), digest(secret, record.id, key_secret).encode())


def new_key(secret: bytes, label: str, scopes: tuple[str, ...], created: float, *, rate: float = DEFAULT_RATE,
            burst: int = DEFAULT_BURST, taken: frozenset[str] = frozenset()) -> tuple[str, KeyRecord]:
    """(the key, shown once, its record): an id none of taken has, and a secret of 256 bits."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes are some of {', '.join(SCOPES)}, not {', '.join(unknown) or 'none'}")
    if rate <= 0 or burst < 1:
        raise ValueError("a key's rate must be positive and its burst at least 1")
    key_id = secrets.token_hex(4)
    while key_id in taken:
        key_id = secrets.token_hex(4)
    key_secret = secrets.token_urlsafe(32)
    record = KeyRecord(key_id, label, tuple(s for s in SCOPES if s in scopes), created,
                       digest(secret, key_id, key_secret), float(rate), int(burst))
    return f"{PREFIX}{key_id}_{key_secret}", record


def seal_records(key: StoreKey, magic: bytes, records: list[KeyRecord]) -> bytes:
    return seal(key, magic, json.dumps([r.to_json() for r in records]).encode())


def unseal_records(keys: list[StoreKey], magic: bytes, blob: bytes, what: str) -> list[KeyRecord]:
    try:
        data = json.loads(unseal(keys, magic, blob, what))
    except ValueError as exc:  # altered, or not JSON
        raise KeysDamaged(str(exc)) from None
    if not isinstance(data, list):
        raise KeysDamaged(f"{what} does not hold a list of keys")
    return [KeyRecord.from_json(item) for item in data]


class KeyFile:
    """The file store's keys: `<data dir>/api_keys.sealed`, sealed with the store key, with a generation
    that each write raises. anchor_path (outside the data dir, beside the store's anchor) keeps the
    latest generation written for this data dir: an older copy of the file put back, which would bring
    revoked keys back to life, is refused (KeysDamaged: every stored key is refused, the server stays
    guarded). A file ahead of its anchor (a crash between the two writes) is taken: only the key seals one."""

    def __init__(self, data_dir: Path, anchor_path: Optional[Path] = None) -> None:
        self.path = Path(data_dir) / FILE
        self.anchor_path = Path(anchor_path) if anchor_path is not None else None
        # Named as the store's anchor names a data dir: by the path given, made absolute, links not followed
        # (resolving them would let a link to an older copy put in the data dir's place go by another name,
        # with no count to be held to).
        self._place = os.path.abspath(Path(data_dir).expanduser())

    def version(self) -> Optional[tuple[int, int, int]]:
        """What changes whenever the file is replaced (inode, size, time); None when there is none."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def read(self, key: StoreKey) -> list[KeyRecord]:
        """Every record, revoked ones too; KeysDamaged when the file is not ours, was altered, or is older
        than its anchor says (or gone when the anchor says there was one)."""
        anchored = self._anchored(key)  # before the file: a write between the two only puts the file ahead
        generation, records = self._read(key)
        if generation < anchored:
            state = "gone" if generation == 0 else f"at write {generation}"
            raise KeysDamaged(f"{self.path} is {state}, but {self.anchor_path} says it was written {anchored} times: "
                              "an older copy put back would bring revoked keys back, so no stored key is taken; "
                              "make the keys again with `python -m tools.keys` after removing both files")
        return records

    def write(self, key: StoreKey, records: list[KeyRecord]) -> None:
        """Called under changing(): the file, then its anchor."""
        generation = max(self._read(key)[0], self._anchored(key)) + 1
        body = json.dumps({"generation": generation, "keys": [r.to_json() for r in records]}).encode()
        write_atomically(self.path, seal(key, MAGIC, body))
        if self.anchor_path is not None:
            # Data dirs that share a key file share this anchor: its update is locked like the store's own.
            with open(str(self.anchor_path) + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    anchors = self._anchors()
                    anchors[self._place] = max(generation, int(anchors.get(self._place, 0)))
                    write_atomically(self.anchor_path, json.dumps(anchors).encode())
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self, key: StoreKey) -> tuple[int, list[KeyRecord]]:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return 0, []
        try:
            data = json.loads(unseal([key], MAGIC, blob, str(self.path)))
            # A bare list: the first layout, before writes were counted (its first write, then).
            generation, items = (1, data) if isinstance(data, list) else (int(data["generation"]), data["keys"])
        except (ValueError, TypeError, KeyError) as exc:  # altered, or not the layout written here
            raise KeysDamaged(f"{self.path} cannot be read: {exc}") from None
        if not isinstance(items, list) or generation < 1:
            raise KeysDamaged(f"{self.path} does not hold a list of keys")
        return generation, [KeyRecord.from_json(item) for item in items]

    def _anchored(self, key: StoreKey) -> int:
        return int(self._anchors().get(self._place, 0))

    def _anchors(self) -> dict:
        if self.anchor_path is None:
            return {}
        try:
            blob = self.anchor_path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            anchors = json.loads(blob)
        except ValueError as exc:
            raise KeysDamaged(f"{self.anchor_path} cannot be read: {exc}") from None
        if not isinstance(anchors, dict) or not all(isinstance(count, int) for count in anchors.values()):
            raise KeysDamaged(f"{self.anchor_path} is not a keys anchor")
        return anchors

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Held around a read-change-write, so two tools at once never lose each other's key."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_name(f".{FILE}.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def key_file(store) -> KeyFile:
    """A file store's key file, anchored beside its anchor (outside the data dir)."""
    anchor = getattr(store, "anchor_path", None)
    return KeyFile(store.data_dir, Path(str(anchor) + ANCHOR_SUFFIX) if anchor is not None else None)


def keys_exist(data_dir: Path, url: Optional[str] = None) -> bool:
    """Whether keys were ever made for this store (revoked ones count: revoking every key never opens a
    server), told without opening the store: the data dir's file, or the database's table (False when
    the database cannot be asked)."""
    if url:
        from recognition.store.postgres.api_keys import table_has_keys

        return table_has_keys(url)
    return (Path(data_dir) / FILE).is_file()
