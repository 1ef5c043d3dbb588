"""Crash-safe file replacement and the data dir's single-writer lock."""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Optional, TextIO

LOCK_FILE = ".lock"


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, sync_folder: bool = True) -> None:
    """Replace path with data so that readers and crashes see either the old or the new content.

    Temporary file in the same folder, fsync, rename over the target, then (unless the caller does it
    itself) fsync of the folder so the rename itself survives a power cut.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files left by a writer that was killed mid-write; never the live files."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


class DataDirInUse(RuntimeError):
    pass


class DataDirLock:
    """An exclusive lock on a data dir (flock on <dir>/.lock), so two servers never write one store.

    The kernel drops the lock when the holder dies, even on kill -9, so a crash never leaves it stuck.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self._handle: Optional[TextIO] = None  # the lock file, open while the lock is held

    def acquire(self) -> "DataDirLock":
        handle = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirInUse(f"the data dir {self.path.parent} is in use by {holder}; stop it first or "
                               f"use another --data-dir (two writers would corrupt the store)")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
