"""Stores of earlier releases (one faces.pkl) brought into segments, and what a migration leaves behind.

A migration writes the segments in a staging folder and swaps it in with one rename, then removes
the old file (its backups first). A crash before the rename leaves the old file in charge (the
staging folder is cleared on the next open); after it the segments are, and the clean-up finishes on
the next open. The old file is removed, not kept, so that a person deleted later is gone from every
file; `tools.store export` makes a copy for whoever wants one.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Container, Optional, Sequence

from recognition.store import legacy, records, segments
from recognition.store.atomic import fsync_folder
from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.vault import StoreKey, read_keys, read_or_create_key

log = logging.getLogger(__name__)

STAGING_FOLDER = ".faces.migrating"


def clear_staging(data_dir: Path) -> None:
    """A migration cut short before its rename: it starts over from the old file."""
    staging = Path(data_dir) / STAGING_FOLDER
    if staging.exists():
        shutil.rmtree(staging)


def read_old_file(data: bytes, path: Path, key_path: Path, secret: bytes, *,
                  create_key: bool) -> tuple[list[Identity], StoreKey]:
    """The identities of a faces.pkl and the key the segments are to be sealed with (mid-rotation:
    the pending one)."""
    if legacy.is_legacy(data):
        return legacy.decode_legacy(data, str(path)), read_or_create_key(key_path, create=create_key)
    keys = read_keys(key_path, str(path))
    return legacy.decode(data, keys, secret, str(path)), keys[-1]


def write_segments(data_dir: Path, folder: Path, identities: Sequence[Identity], key: StoreKey, secret: bytes,
                   segment_identities: int, generation: int) -> None:
    """Segments for identities, written in a staging folder that becomes folder in one rename; their
    records carry generation (the migration is the store's first write)."""
    staging = Path(data_dir) / STAGING_FOLDER
    staging.mkdir(mode=0o700)
    for number, start in enumerate(range(0, len(identities), segment_identities), start=1):
        chunk = identities[start : start + segment_identities]
        body = records.encode(records.group_by_model(chunk), key, records.Place(generation, number))
        segments.write(staging, number, [body], secret)
    fsync_folder(staging)
    os.rename(staging, folder)
    fsync_folder(Path(data_dir))


def remove_old_files(data_dir: Path, old_path: Optional[Path] = None) -> None:
    """The old file's backups first, then the old file: its presence is what brings this back after a crash."""
    old = [*Path(data_dir).glob(f"{legacy.LEGACY_FILE}.*.backup"), *([old_path] if old_path else [])]
    for path in old:
        path.unlink(missing_ok=True)
    if old:
        fsync_folder(Path(data_dir))


def check_migrated(data: bytes, path: Path, keys: list[StoreKey], secret: bytes, stored: Container[str],
                   folder: Path) -> None:
    """faces.pkl beside segments is the end of a migration cut short, so everyone in it is stored. If
    not (an older release ran on this data dir since), it is refused rather than deleted."""
    try:
        identities = (legacy.decode_legacy(data, str(path)) if legacy.is_legacy(data)
                      else legacy.decode(data, keys, secret, str(path)))
    except StoreRejected as exc:
        raise StoreRejected(f"{path} sits beside {folder}/ and cannot be read ({exc}); move it away")
    missing = [i.hash for i in identities if i.hash not in stored]
    if missing:
        raise StoreRejected(f"{path} sits beside {folder}/ and holds {len(missing)} people the segments do not "
                            f"(an older release wrote it?); move it away, or remove {folder}/ to migrate it again")
