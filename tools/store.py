"""Look after the face store from the command line: list, verify, export, import, delete, rotate-key, copy,
accept-restore.

    python -m tools.store list
    python -m tools.store export backup.faces      # passphrase from $FACE_EXPORT_PASSPHRASE or a prompt
    python -m tools.store delete 3f2a9c...
    python -m tools.store copy postgresql://faceapp@db/faces      # the file store into PostgreSQL
    python -m tools.store --store postgresql://faceapp@db/faces copy file --to-data-dir known_faces_db
    python -m tools.store accept-restore          # the data dir was restored from a backup on purpose

Uses the same --store / --data-dir / --key-file (and FACE_STORE / FACE_DATA_DIR / FACE_KEY_FILE) as
run.py. Reading commands work while the server runs; changing ones on the file store need the server
stopped (the data dir lock says so); a PostgreSQL store takes changes while its servers run.
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
from typing import Mapping, Optional

from config import add_store_arguments, store_config
from recognition.album import corrections as album_people
from recognition.matching.trained import ClassifierFile
from recognition.store import FILE_STORE, is_database_url, open_store
from recognition.store.atomic import DataDirInUse, write_atomically
from recognition.store.export import decode_export, encode_export
from recognition.store.interface import StoreError
from recognition.store.pickle_store import PickleStore as FaceStore
from recognition.store.vault import StoreKeyError

PASSPHRASE_VARIABLE = "FACE_EXPORT_PASSPHRASE"


class ToolError(Exception):
    pass


def main(argv: Optional[list[str]] = None, given_env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if given_env is None else given_env
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
    copy = commands.add_parser("copy", help="copy every identity (hashes, names, email bindings, rejections) into "
                                            "another, empty store: a postgresql:// URL, or 'file'")
    copy.add_argument("target", help="a postgresql:// URL, or 'file' (the store in --to-data-dir)")
    copy.add_argument("--to-data-dir", type=Path, help="the target's data dir: a file store's home, or where a "
                                                       "database server keeps its side files [default: --data-dir]")
    commands.add_parser("accept-restore", help="the file store's data dir was restored from an older backup on "
                                               "purpose: accept it as it is (after checking every record) and "
                                               "anchor it so; changes made since the backup are not in it")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(levelname)s: %(message)s")

    settings = store_config(args, env)
    writes = args.command in ("import", "delete", "rotate-key", "accept-restore")
    # A one-off command follows no other server.
    options = {"follow": False} if settings.url else {**settings.options}
    if args.command == "accept-restore":
        if settings.url:
            print("error: accept-restore is for the file store; a PostgreSQL store is restored with its database",
                  file=sys.stderr)
            return 1
        options["accept_restore"] = True
    try:
        with open_store(settings.data_dir, settings.key_path, read_only=not writes, url=settings.url,
                        **options) as store:
            return COMMANDS[args.command](store, args, env)
    except (StoreError, StoreKeyError, DataDirInUse, ToolError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def list_identities(store: FaceStore, args, env) -> int:
    print(f"{len(store)} identities in {store.location}")
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
    print(f"{store.location}: key id {store.key.fingerprint if store.key else '-'}, {len(store)} identities: {status}")
    if hasattr(store, "anchor_status"):  # opening refused a store behind its anchor; this says where it stands
        print(f"anchor: {store.anchor_status}")
    return 0 if not problems else 1


def accept_restore(store: FaceStore, args, env) -> int:
    """Opening with accept_restore checked every signature and record, and anchored the store as it is."""
    print(f"accepted {store.location} as it is ({len(store)} identities, {store.segment_count} segments); "
          f"anchor: {store.anchor_status}")
    return 0


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
    if not hasattr(store, "rotate_key"):
        raise ToolError(f"rotate-key re-encrypts a file store; {store.location} is shared by servers that all hold "
                        f"its key. Copy it to a file store, rotate there, and copy it back into an empty database")
    old = store.key.fingerprint
    new = store.rotate_key()
    print(f"key rotated: {old} -> {new.fingerprint}; {store.segment_count} segments in {store.folder} and the "
          f"sealed side files in {store.data_dir} (album people) re-encrypted")
    return 0


COPY_BATCH = 16384  # identities written at once (8 database chunks): progress shown, memory bounded


def copy_store(store: FaceStore, args, env) -> int:
    """Every identity into an empty store of another backend, under the same key and installation secret,
    so hashes, email bindings and everything else stay as they are; then checked."""
    settings = store_config(args, env)
    to_dir = (args.to_data_dir or settings.data_dir).expanduser()
    if args.target != FILE_STORE and not is_database_url(args.target):
        raise ToolError(f"{args.target!r} is neither 'file' nor a postgresql:// URL")
    url = None if args.target == FILE_STORE else args.target
    same_dir = to_dir.resolve() == settings.data_dir.resolve()
    if url == settings.url or (url is None and settings.url is None and same_dir):
        raise ToolError("the target is the store itself; name another (--to-data-dir for a file store)")
    options = {"follow": False} if url else {"anchor_path": settings.anchor_path}
    with open_store(to_dir, settings.key_path, url=url, secret=store.secret, **options) as target:
        if len(target):
            raise ToolError(f"{target.location} holds {len(target)} identities already; copy into an empty store")
        identities = store.identities()
        for start in range(0, len(identities), COPY_BATCH):
            target.add_many(identities[start : start + COPY_BATCH])
            print(f"copied {min(start + COPY_BATCH, len(identities))} of {len(identities)}", flush=True)
        copied = {i.hash: (i.name, i.email_hash, i.created, len(i.embeddings), len(i.rejections))
                  for i in target.identities()}
    wanted = {i.hash: (i.name, i.email_hash, i.created, len(i.embeddings), len(i.rejections)) for i in identities}
    if copied != wanted:
        raise ToolError(f"the copy in {target.location} differs from the store ({len(copied)} of {len(wanted)} as "
                        f"they were); the store itself is untouched")
    print(f"copied {len(identities)} identities from {store.location} to {target.location} (same key and secret: "
          f"hashes and email bindings kept). Point the servers at it with --store; the side files (trained "
          f"classifier, album indexes) stay in each server's data dir")
    return 0


def _resolve(store: FaceStore, given: str) -> str:
    given = given.strip().lower()
    matches = [i.hash for i in store.identities() if i.hash.startswith(given)] if len(given) >= 8 else []
    if len(matches) != 1:
        raise ToolError(f"{given!r} names {len(matches) or 'no'} identities; "
                        "give a unique hash prefix of 8+ characters")
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
    "copy": copy_store,
    "accept-restore": accept_restore,
}

if __name__ == "__main__":
    sys.exit(main())
