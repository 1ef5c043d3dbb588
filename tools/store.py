"""Look after the face store from the command line: list, verify, export, import, delete, rotate-key.

    python -m tools.store list
    python -m tools.store export backup.faces      # passphrase from $FACE_EXPORT_PASSPHRASE or a prompt
    python -m tools.store delete 3f2a9c...

Uses the same --data-dir / --key-file (and FACE_DATA_DIR / FACE_KEY_FILE) as run.py. Reading commands
work while the server runs; changing ones need the server stopped (the data dir lock says so).
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from config import add_store_arguments, store_config
from recognition.album import corrections as album_people
from recognition.matching.trained import ClassifierFile
from recognition.store import open_store
from recognition.store.atomic import DataDirInUse, write_atomically
from recognition.store.export import decode_export, encode_export
from recognition.store.interface import StoreRejected
from recognition.store.pickle_store import PickleStore as FaceStore
from recognition.store.vault import StoreKeyError

PASSPHRASE_VARIABLE = "FACE_EXPORT_PASSPHRASE"


class ToolError(Exception):
    pass


def main(argv: Optional[list[str]] = None, env: Optional[dict] = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m tools.store", description=__doc__.split("\n\n")[0])
    add_store_arguments(parser, env)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="identities: hash, name, model, vectors, registered, created")
    commands.add_parser("verify", help="check signatures, encryption, records and every vector; exit 1 if not sound")
    export = commands.add_parser("export", help="write the identities to a passphrase-encrypted file")
    export.add_argument("file", type=Path)
    imported = commands.add_parser("import", help="add the identities of an export that are not here yet")
    imported.add_argument("file", type=Path)
    delete = commands.add_parser("delete", help="delete identities (and every vector of them) for good")
    delete.add_argument("hashes", nargs="+", help="identity hashes, or unique prefixes of at least 8 characters")
    commands.add_parser("rotate-key", help="re-encrypt the store under a new key and replace the key file")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(levelname)s: %(message)s")

    settings = store_config(args, env)
    writes = args.command in ("import", "delete", "rotate-key")
    try:
        with open_store(settings.data_dir, settings.key_path, read_only=not writes) as store:
            return COMMANDS[args.command](store, args, env)
    except (StoreRejected, StoreKeyError, DataDirInUse, ToolError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def list_identities(store: FaceStore, args, env) -> int:
    print(f"{len(store)} identities in {store.folder}")
    for identity in store.identities():
        created = datetime.fromtimestamp(identity.created, timezone.utc).strftime("%Y-%m-%d %H:%M")
        registered = "registered" if identity.email_hash else ""
        print(f"{identity.hash}  {identity.model:8} {len(identity.embeddings):3} vectors  {created}  "
              f"{identity.name or '(no name)'}  {registered}".rstrip())
    return 0


def verify(store: FaceStore, args, env) -> int:
    """Opening already checked every signature, key, tag, record and field; here the vectors' lengths."""
    problems = []
    for identity in store.identities():
        for vector in identity.embeddings:
            norm = float((vector.astype("float64") ** 2).sum() ** 0.5)
            if abs(norm - 1.0) > 1e-3:
                problems.append(f"{identity.hash}: a vector has length {norm:.4f}, not 1")
    for problem in problems:
        print(f"problem: {problem}")
    status = "sound" if not problems else f"{len(problems)} problems"
    print(f"{store.folder}: key id {store.key.fingerprint if store.key else '-'}, {len(store)} identities in "
          f"{store.segment_count} segments: {status}")
    return 0 if not problems else 1


def export(store: FaceStore, args, env) -> int:
    passphrase = _passphrase(env, confirm=True)
    write_atomically(args.file.resolve(), encode_export(store.identities(), passphrase, store.secret))
    print(f"exported {len(store)} identities to {args.file} (encrypted; mode 0600)")
    return 0


def import_identities(store: FaceStore, args, env) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise ToolError(f"cannot read {args.file}: {exc.strerror}")
    identities, same_installation = decode_export(data, _passphrase(env, confirm=False), store.secret, str(args.file))
    new = [i for i in identities if store.get(i.hash) is None]
    if not same_installation:  # their email hashes were keyed with another installation's secret
        new = [_without_email(i) for i in new]
    try:
        store.add_many(new)
    except ValueError as exc:
        raise ToolError(f"nothing imported: {exc}")
    print(f"imported {len(new)} identities; {len(identities) - len(new)} were already here"
          + ("" if same_installation else "; email bindings dropped (the export is from another installation)"))
    return 0


def delete(store: FaceStore, args, env) -> int:
    targets = [_resolve(store, given) for given in args.hashes]
    for identity_hash in dict.fromkeys(targets):
        removed = store.remove(identity_hash)
        album_people.forget_identity(store.data_dir, store.key, identity_hash)
        ClassifierFile(store.data_dir, store.key).forget()  # it may hold their vectors
        print(f"deleted {removed.hash} ({removed.name or 'no name'}) and its {len(removed.embeddings)} vectors")
    return 0


def rotate_key(store: FaceStore, args, env) -> int:
    old = store.key.fingerprint
    new = store.rotate_key()
    print(f"key rotated: {old} -> {new.fingerprint}; {store.segment_count} segments in {store.folder} and the "
          f"sealed side files in {store.data_dir} (album people) re-encrypted")
    return 0


def _resolve(store: FaceStore, given: str) -> str:
    given = given.strip().lower()
    matches = [i.hash for i in store.identities() if i.hash.startswith(given)] if len(given) >= 8 else []
    if len(matches) != 1:
        raise ToolError(f"{given!r} names {len(matches) or 'no'} identities; give a unique hash prefix of 8+ characters")
    return matches[0]


def _without_email(identity):
    return dataclasses.replace(identity, email_hash=None)


def _passphrase(env, *, confirm: bool) -> str:
    if env.get(PASSPHRASE_VARIABLE):
        return env[PASSPHRASE_VARIABLE]
    if not sys.stdin.isatty():
        raise ToolError(f"set {PASSPHRASE_VARIABLE} or run in a terminal to be asked for the passphrase")
    first = getpass.getpass("export passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ToolError("the passphrases differ")
    return first


COMMANDS = {
    "list": list_identities,
    "verify": verify,
    "export": export,
    "import": import_identities,
    "delete": delete,
    "rotate-key": rotate_key,
}

if __name__ == "__main__":
    sys.exit(main())
