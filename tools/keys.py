"""Make, list and revoke API keys with scopes, while servers run.

    python -m tools.keys create --scopes read,recognize --label "door panel"     # prints the key, once
    python -m tools.keys create --scopes enroll --rate 2 --burst 10
    python -m tools.keys list
    python -m tools.keys revoke 1a2b3c4d

Scopes: read (/hash, the cameras, lists, the stream, events, metrics), recognize (photos in, names out),
enroll (add, rename, correct and delete people), admin (everything). A key is `fk_<id>_<secret>`; only
an HMAC of the secret is kept, sealed with the store key: in the data dir's api_keys.sealed for the
file store, in the database for PostgreSQL. Servers read the keys again within a second, so a new key
works and a revoked one stops at once, without a restart. The key is printed once, on create, alone on
standard output (`KEY=$(python -m tools.keys create ...)`), and never again.

Uses the same --store / --data-dir / --key-file (and FACE_STORE / FACE_DATA_DIR / FACE_KEY_FILE) as run.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from config import add_store_arguments, store_config
from recognition.store import open_store
from recognition.store.api_keys import DEFAULT_BURST, DEFAULT_RATE, SCOPES, KeyRecord, KeysDamaged, key_file, new_key
from recognition.store.atomic import DataDirInUse
from recognition.store.interface import StoreError
from recognition.store.vault import StoreKeyError

if TYPE_CHECKING:
    from recognition.store.postgres.api_keys import KeyTable


class ToolError(Exception):
    pass


def main(argv: Optional[list[str]] = None, given_env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if given_env is None else given_env
    parser = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n\n")[0])
    add_store_arguments(parser, env)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--scopes", type=_scopes, required=True, help=f"comma-separated: {', '.join(SCOPES)}")
    create.add_argument("--label", default="", help="what the key is for, shown by list")
    create.add_argument("--rate", type=float, default=DEFAULT_RATE,
                        help=f"requests a second the key may make steadily [default: {DEFAULT_RATE:g}]")
    create.add_argument("--burst", type=int, default=DEFAULT_BURST,
                        help=f"requests the key may make at once [default: {DEFAULT_BURST}]")
    commands.add_parser("list", help="every key: id, label, scopes, rate, created, revoked (never the key)")
    revoke = commands.add_parser("revoke", help="stop a key at once, on every server")
    revoke.add_argument("id", help="the key's id as list shows it (the 8 hex digits after fk_)")
    args = parser.parse_args(argv)
    if args.command == "create" and (args.rate <= 0 or args.burst < 1):
        parser.error("--rate must be positive and --burst at least 1")
    settings = store_config(args, env)
    # The file store is opened without its lock (a server may hold it); the keys' own file has a lock of
    # its own. A database store is opened as a writer (so its schema has the keys' table), following nobody.
    options = {"follow": False} if settings.url else {**settings.options, "read_only": True}
    try:
        with open_store(settings.data_dir, settings.key_path, url=settings.url, **options) as store:
            keys = StoredKeys(store)
            try:
                return COMMANDS[args.command](keys, args)
            finally:
                keys.close()
    except (StoreError, StoreKeyError, DataDirInUse, KeysDamaged, ToolError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


class StoredKeys:
    """The store's keys, read and changed whole: the data dir's file, or the database's table."""

    def __init__(self, store) -> None:
        self.key, self.secret, self.location = store.key, store.secret, store.location
        self._file = key_file(store)
        self._table: Optional[KeyTable] = None
        url = getattr(store, "url", None)
        if url:
            from recognition.store.postgres.api_keys import KeyTable
            from recognition.store.postgres.store import connect

            self._table = KeyTable(lambda: connect(url, autocommit=True), store.location)

    def read(self) -> list[KeyRecord]:
        return self._table.read(self.key) if self._table is not None else self._file.read(self.key)

    def change(self, work: Callable[[list[KeyRecord]], KeyRecord]) -> KeyRecord:
        """work(records) -> the record made or changed, which is then kept (the file under its lock)."""
        if self._table is not None:
            record = work(self.read())
            self._table.put(self.key, record)
            return record
        with self._file.changing():
            records = self.read()
            record = work(records)
            self._file.write(self.key, [r for r in records if r.id != record.id] + [record])
            return record

    def close(self) -> None:
        if self._table is not None:
            self._table.close()


def create(keys: StoredKeys, args) -> int:
    shown: list[str] = []

    def make(records: list[KeyRecord]) -> KeyRecord:
        token, record = new_key(keys.secret, args.label, args.scopes, time.time(), rate=args.rate, burst=args.burst,
                                taken=frozenset(r.id for r in records))
        shown.append(token)
        return record

    record = keys.change(make)
    print(f"created key {record.id} ({record.label or 'no label'}) in {keys.location}: {', '.join(record.scopes)}; "
          f"{record.rate:g} requests/s, bursts of {record.burst}. This is the only time it is shown:", file=sys.stderr)
    print(shown[0], flush=True)
    return 0


def list_keys(keys: StoredKeys, args) -> int:
    records = keys.read()
    print(f"{len(records)} keys in {keys.location}")
    for record in sorted(records, key=lambda r: r.created):
        revoked = f"revoked {_when(record.revoked)}" if record.revoked is not None else "active"
        print(f"{record.id}  {','.join(record.scopes):26} {record.rate:g}/s burst {record.burst:<4} created "
              f"{_when(record.created)}  {revoked:24} {record.label}".rstrip())
    return 0


def revoke(keys: StoredKeys, args) -> int:
    given = args.id.strip().lower().removeprefix("fk_")[:8]

    def revoked(records: list[KeyRecord]) -> KeyRecord:
        record = next((r for r in records if r.id == given), None)
        if record is None:
            raise ToolError(f"no key {given!r} in {keys.location}; `python -m tools.keys list` shows them")
        if record.revoked is not None:
            return record
        return dataclasses.replace(record, revoked=time.time())

    record = keys.change(revoked)
    print(f"revoked key {record.id} ({record.label or 'no label'}) since {_when(record.revoked)}; servers refuse it "
          f"within a second")
    return 0


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise argparse.ArgumentTypeError(f"scopes are some of {', '.join(SCOPES)}, not {text!r}")
    return scopes


def _when(moment: Optional[float]) -> str:
    return datetime.fromtimestamp(moment or 0, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


COMMANDS = {"create": create, "list": list_keys, "revoke": revoke}

if __name__ == "__main__":
    sys.exit(main())
