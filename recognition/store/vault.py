"""The store's encryption key: a file outside the data dir, and sealing bytes with it (AES-256-GCM).

A sealed blob is MAGIC | key id (8) | nonce (12) | ciphertext+tag. The key id names the key a blob
was sealed with, so a wrong key is reported as such instead of as "corrupt", and a key rotation that
was interrupted can be finished with the pending key (<key file>.next).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recognition.store.atomic import write_atomically
from recognition.store.interface import StoreRejected

log = logging.getLogger(__name__)

KEY_HEADER = "faceapp store key v1"
NONCE_BYTES = 12
KEY_ID_BYTES = 8


class StoreKeyError(Exception):
    """The key is missing, unreadable, or not the one the data was sealed with; the message says which."""


class KeyMissing(StoreKeyError):
    pass


class WrongKey(StoreKeyError):
    pass


class SecretInvalid(StoreRejected):
    """The installation secret is missing where data signed with it exists, or is not one of ours."""


@dataclass(frozen=True)
class StoreKey:
    secret: bytes  # 32 bytes
    path: Optional[Path] = None

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(b"faceapp key id\0" + self.secret).digest()[:KEY_ID_BYTES]

    @property
    def fingerprint(self) -> str:
        return self.key_id.hex()

    @classmethod
    def generate(cls) -> "StoreKey":
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def read(cls, path: Path) -> "StoreKey":
        path = Path(path)
        try:
            lines = path.read_text().split()
        except FileNotFoundError:
            raise KeyMissing(f"the store key {path} does not exist")
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreKeyError(f"the store key {path} cannot be read: {exc}")
        try:
            secret = base64.urlsafe_b64decode(lines[-1])
        except (IndexError, ValueError):
            secret = b""
        if len(secret) != 32:
            raise StoreKeyError(f"{path} is not a faceapp store key (expected a base64 line of 32 bytes)")
        return cls(secret, path)

    def write(self, path: Path) -> "StoreKey":
        """Write the key with mode 0600 in a folder only its owner can enter."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = f"# {KEY_HEADER}; id {self.fingerprint}; keep it secret and back it up\n"
        text += base64.urlsafe_b64encode(self.secret).decode() + "\n"
        write_atomically(path, text.encode(), mode=0o600)
        return StoreKey(self.secret, path)


def pending_key_path(path: Path) -> Path:
    """Where a rotation puts the new key until every file has been re-encrypted with it."""
    return Path(str(path) + ".next")


def seal(key: StoreKey, magic: bytes, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    header = magic + key.key_id + nonce
    return header + AESGCM(key.secret).encrypt(nonce, plaintext, header)


def sealed_key_id(magic: bytes, blob: bytes) -> Optional[bytes]:
    if not blob.startswith(magic) or len(blob) < len(magic) + KEY_ID_BYTES + NONCE_BYTES + 16:
        return None
    return blob[len(magic) : len(magic) + KEY_ID_BYTES]


def unseal(keys: list[StoreKey], magic: bytes, blob: bytes, what: str) -> bytes:
    """Decrypt blob with whichever of keys sealed it; WrongKey if none did, ValueError if it was altered."""
    key_id = sealed_key_id(magic, blob)
    if key_id is None:
        raise ValueError(f"{what} is not a sealed faceapp file")
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        known = ", ".join(f"{k.fingerprint} ({k.path})" for k in keys) or "none"
        raise WrongKey(f"{what} was encrypted with key id {key_id.hex()}, but the key given is {known}; "
                       f"point --key-file (FACE_KEY_FILE) at the key it was created with")
    start = len(magic) + KEY_ID_BYTES
    header, nonce = blob[: start + NONCE_BYTES], blob[start : start + NONCE_BYTES]
    try:
        return AESGCM(key.secret).decrypt(nonce, blob[start + NONCE_BYTES :], header)
    except InvalidTag:
        raise ValueError(f"{what} was altered or damaged: its authentication tag does not match")


MAGIC_BYTES = 8  # every sealed format starts with an 8-byte magic (FACEREC, FACEALB, FACEPPL...)
SIDE_FILES = "*.sealed"  # small files sealed with the store key beside the store, re-sealed when it rotates


def reseal_side_files(data_dir: Path, old_keys: list[StoreKey], new_key: StoreKey) -> None:
    """Re-encrypt the data dir's side files (SIDE_FILES, e.g. albums/people.sealed) under a new key,
    before the old key is replaced, so none is left sealed with a key that no longer exists. One that
    no key given opens is left as it is, with a warning (its owner sets it aside when it next opens)."""
    for path in sorted(Path(data_dir).rglob(SIDE_FILES)):
        blob = path.read_bytes()
        if sealed_key_id(blob[:MAGIC_BYTES], blob) == new_key.key_id:
            continue  # re-sealed already, by a rotation a crash interrupted
        try:
            plain = unseal(old_keys, blob[:MAGIC_BYTES], blob, str(path))
        except (ValueError, StoreKeyError) as exc:
            log.warning("left %s as it was in the key rotation: %s", path, exc)
            continue
        write_atomically(path, seal(new_key, blob[:MAGIC_BYTES], plain))


def check_outside(key_path: Path, data_dir: Path, *, what: str = "the store key", option: str = "--key-file / "
                  "FACE_KEY_FILE", why: str = "so a copy of the data dir cannot be read") -> None:
    key, data = Path(key_path).expanduser().resolve(), Path(data_dir).expanduser().resolve()
    if key == data or data in key.parents:
        raise StoreKeyError(f"{what} {key_path} is inside the data dir {data_dir}; keep it elsewhere ({option}) {why}")


def derive_passphrase_key(passphrase: str, salt: bytes) -> StoreKey:
    """A key from a passphrase (scrypt), for exports that travel between installations."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if not passphrase:
        raise StoreKeyError("an empty passphrase cannot protect an export")
    return StoreKey(Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode()))


def read_keys(key_path: Path, required_for: str) -> list[StoreKey]:
    """The store key and, if a rotation was cut short, the pending one; a clear error if neither exists."""
    keys = [StoreKey.read(path) for path in (key_path, pending_key_path(key_path)) if path.exists()]
    if not keys:
        raise KeyMissing(f"{required_for} is encrypted and its key is not at {key_path}; point --key-file "
                         f"(FACE_KEY_FILE) at the key it was created with. Without it the store cannot be read.")
    return keys


def read_or_create_key(key_path: Path, *, create: bool) -> StoreKey:
    if key_path.exists():
        return StoreKey.read(key_path)
    if not create:
        raise KeyMissing(f"no store key at {key_path}")
    key = StoreKey.generate().write(key_path)
    log.info("created a new store key at %s (mode 0600); back it up: without it the store is unreadable", key_path)
    return key
