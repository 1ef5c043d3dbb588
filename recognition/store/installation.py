"""The file store's installation secret, kept in the data dir sealed with the store key.

The secret salts identity and email hashes and keys the segments' HMAC chain. Releases before this one
kept it as a raw 32-byte file, so a copy of the data dir was enough to forge chain links (and, with the
session key derived from it, sessions). Now the file holds SECRET_MAGIC | key id | nonce | AES-GCM of
the secret, as the PostgreSQL store keeps its own: a raw file is sealed in place when a writer opens
the store (one atomic replace, so a crash leaves either form, both readable), read-only opens read
either form, and a key rotation re-seals it before the new key takes over.
"""
from __future__ import annotations

import logging
import secrets as random
from pathlib import Path
from typing import Optional

from recognition.store.atomic import write_atomically
from recognition.store.vault import SecretInvalid, StoreKey, seal, sealed_key_id, unseal

log = logging.getLogger(__name__)

SECRET_MAGIC = b"FACESEC\x01"
SECRET_BYTES = 32


def is_sealed(path: Path) -> bool:
    """Whether path holds a sealed secret (so reading it needs the store key)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return False
    return sealed_key_id(SECRET_MAGIC, data) is not None


def is_raw(path: Path) -> bool:
    """Whether path holds a secret in the clear, as releases before this one wrote it."""
    try:
        return Path(path).stat().st_size == SECRET_BYTES
    except FileNotFoundError:
        return False


def read_or_create(path: Path, keys: list[StoreKey], key: StoreKey, *, needed: bool, create: bool,
                   given: Optional[bytes] = None) -> bytes:
    """The installation secret at path, unsealed with whichever of keys sealed it.

    needed: data exists that was signed with it, so a missing secret is an error, never made up.
    create: a writer's open: a missing secret is made (sealed with key), a raw one sealed in place.
    given: the secret a new store is to take (a store moved here keeps its hashes); one that exists
    already must be the same."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    if data is None:
        if needed:
            raise SecretInvalid(f"{path} is missing, so the store in {path.parent} cannot be verified; restore it "
                                f"from a backup")
        if not create:
            return b""
        secret = given or random.token_bytes(SECRET_BYTES)
        write_atomically(path, seal(key, SECRET_MAGIC, secret), mode=0o600)
        log.info("created a new installation secret at %s, sealed with the store key", path)
        return secret
    if len(data) == SECRET_BYTES:  # the raw form of earlier releases
        secret = data
        if create:
            write_atomically(path, seal(key, SECRET_MAGIC, secret), mode=0o600)
            log.warning("sealed the installation secret %s with the store key (it was a raw file: a copy of the data "
                        "dir taken before now holds it; sessions no longer depend on it)", path)
    else:
        try:
            secret = unseal(keys, SECRET_MAGIC, data, str(path))
        except ValueError as exc:
            raise SecretInvalid(f"{path} is not an installation secret of this store ({exc})")
        if len(secret) != SECRET_BYTES:
            raise SecretInvalid(f"{path} is not a 32-byte installation secret")
    if given is not None and given != secret:
        raise SecretInvalid(f"{path.parent} belongs to another installation (its secret differs), so hashes "
                            f"could not be kept; use an empty data dir")
    return secret


def reseal(path: Path, secret: bytes, new_key: StoreKey) -> None:
    """Seal the secret under a new key (a rotation), before the old key is replaced."""
    path = Path(path)
    if path.exists() and sealed_key_id(SECRET_MAGIC, path.read_bytes()) == new_key.key_id:
        return  # done already, by a rotation a crash interrupted
    write_atomically(path, seal(new_key, SECRET_MAGIC, secret), mode=0o600)

