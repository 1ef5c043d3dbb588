"""The identity store: its interface, the sealed pickle backend, keys, crash-safe files, exports."""
from __future__ import annotations

from pathlib import Path


def open_store(data_dir: Path, key_path: Path, *, read_only: bool = False):
    """The store of a data dir (the embedded pickle backend), opened and checked."""
    from recognition.store.pickle_store import PickleStore

    return PickleStore(data_dir, key_path, read_only=read_only)
