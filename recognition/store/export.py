"""Export files: identities sealed under a passphrase, to move them between installations.

Layout: EXPORT_MAGIC | salt (16) | key id | nonce | AES-GCM ciphertext, the key derived from the
passphrase with scrypt. Identity hashes travel as they are; email hashes are keyed with the source
installation's secret, so they are kept only when importing into that same installation.
"""
from __future__ import annotations

import hashlib
import hmac
import pickle
import secrets

from recognition.store import legacy as store_file
from recognition.store.identity import Identity
from recognition.store.vault import WrongKey, derive_passphrase_key, seal, unseal

EXPORT_MAGIC = b"FACEEXPORT\x01"
SALT_BYTES = 16


def installation_tag(secret: bytes) -> str:
    """Tells two installations apart without revealing the secret."""
    return hmac.new(secret, b"installation tag", hashlib.sha256).hexdigest()[:16]


def encode_export(identities: list[Identity], passphrase: str, secret: bytes) -> bytes:
    salt = secrets.token_bytes(SALT_BYTES)
    payload = {
        "version": store_file.SCHEMA_VERSION,
        "installation": installation_tag(secret),
        "identities": [store_file.to_row(i) for i in identities],
    }
    header = EXPORT_MAGIC + salt
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return seal(derive_passphrase_key(passphrase, salt), header, body)


def decode_export(data: bytes, passphrase: str, secret: bytes, what: str) -> tuple[list[Identity], bool]:
    """The identities in an export and whether it came from this installation (so email hashes hold)."""
    if not data.startswith(EXPORT_MAGIC) or len(data) < len(EXPORT_MAGIC) + SALT_BYTES:
        raise store_file.StoreRejected(f"{what} is not a faceapp export")
    header = data[: len(EXPORT_MAGIC) + SALT_BYTES]
    key = derive_passphrase_key(passphrase, header[len(EXPORT_MAGIC):])
    try:
        plaintext = unseal([key], header, data, what)
    except WrongKey:
        raise WrongKey(f"the passphrase does not open {what}")
    except ValueError as exc:
        raise store_file.StoreRejected(str(exc))
    payload = store_file.load_payload(plaintext, what)
    identities = store_file.rows_to_identities(payload, what, version=store_file.SCHEMA_VERSION)
    same_installation = payload.get("installation") == installation_tag(secret)
    return identities, same_installation
