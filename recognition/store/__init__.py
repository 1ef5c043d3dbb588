"""The identity store: its interface, the sealed pickle backend, the PostgreSQL backend, keys,
crash-safe files, exports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

FILE_STORE = "file"


def is_database_url(store: str) -> bool:
    return store.startswith(("postgresql://", "postgres://"))


def open_store(data_dir: Path, key_path: Path, *, read_only: bool = False, url: Optional[str] = None, **options):
    """The store: the data dir's own (the embedded pickle backend), or with url the PostgreSQL database
    several servers share (their side files stay in data_dir); opened and checked."""
    if url is not None and url != FILE_STORE:
        from recognition.store.postgres.store import PostgresStore

        return PostgresStore(url, data_dir, key_path, read_only=read_only, **options)
    from recognition.store.pickle_store import PickleStore

    return PickleStore(data_dir, key_path, read_only=read_only, **options)
