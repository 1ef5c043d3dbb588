"""Opening the file store: keys, the sealed installation secret, the anchor, every segment checked and
loaded, and what an interrupted write, rotation or migration left to finish."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from recognition.store import anchor, installation, legacy, migration, records, segments
from recognition.store.anchor import SegmentState
from recognition.store.atomic import fsync_folder, remove_stale_temporaries
from recognition.store.history import History
from recognition.store.interface import StoreRejected
from recognition.store.memory import StoreIndex
from recognition.store.spent import LedgerDamaged, SpentFile
from recognition.store.vault import (
    KeyMissing,
    StoreKey,
    pending_key_path,
    read_keys,
    read_or_create_key,
    reseal_side_files,
)

log = logging.getLogger(__name__)

SECRET_FILE = "installation_secret"


class SegmentOpening:
    """The opening half of PickleStore (pickle_store.py), which owns every attribute used here."""

    data_dir: Path
    folder: Path
    key_path: Path
    anchor_path: Path
    read_only: bool
    key: StoreKey
    secret: bytes
    _keys: list[StoreKey]
    _history: History
    _index: StoreIndex
    _given_secret: Optional[bytes]
    _accept_restore: bool
    _segment_identities: int
    _appender: Optional[segments.Appender]
    _spent: SpentFile

    def _open(self) -> None:
        if not self.read_only:
            for leftover in remove_stale_temporaries(self.data_dir) + remove_stale_temporaries(self.folder):
                log.info("removed %s, left by an interrupted write", leftover.name)
            migration.clear_staging(self.data_dir)
        old_path = self.data_dir / legacy.LEGACY_FILE
        old = old_path.read_bytes() if old_path.exists() else None
        numbers = self._numbers() if self.folder.is_dir() else []
        secret_path = self.data_dir / SECRET_FILE
        signed = bool(numbers) or (old is not None and not legacy.is_legacy(old))
        keys = read_keys(self.key_path, str(self.folder)) if signed or installation.is_sealed(secret_path) else [
            read_or_create_key(self.key_path, create=not self.read_only)]
        pending = next((k for k in keys if k.path == pending_key_path(self.key_path)), None)
        key = next((k for k in keys if k.path == self.key_path), pending)
        if key is None:  # read_keys reads only these two paths, and raises when neither is there
            raise KeyMissing(f"no store key at {self.key_path}")
        self.key = key
        self._keys = keys
        entry = self._history.read(keys)  # before any segment (history.py says why)
        if entry is not None and not self._accept_restore and installation.is_raw(secret_path):
            raise StoreRejected(anchor.refusal(self.folder, self.anchor_path, entry, f"{secret_path} is in the clear, "
                                               f"but this release sealed it when it first opened the store (replaced)"))
        if self.read_only and self.folder.is_dir():  # listed again after the anchor: a server writing
            numbers = self._numbers()  # meanwhile may have begun a segment the anchor already lists
        self.secret = installation.read_or_create(secret_path, keys, self.key, needed=signed,
                                                  create=not self.read_only, given=self._given_secret)
        if entry is not None and not self._accept_restore:
            if old is not None and not numbers:
                raise StoreRejected(anchor.refusal(
                    self.folder, self.anchor_path, entry, f"{old_path} is there instead of segments (a store this "
                    f"release has anchored is never migrated from a file of an earlier release)"))
            if not self.folder.is_dir():
                raise StoreRejected(anchor.refusal(self.folder, self.anchor_path, entry, f"{self.folder}/ is gone"))
        if old is not None and not numbers:
            self._open_old_file(old, old_path)
            return
        states, last = self._load_segments(numbers, keys)
        self._history.ledger = self._open_ledger(entry)
        self._history.opened(entry, states, self.folder, accept_restore=self._accept_restore)
        if self.read_only:
            return
        if last is not None:
            if last.torn_bytes:
                log.warning("%s: cut off %d bytes of a write a crash interrupted (it was never acknowledged)",
                            segments.segment_path(self.folder, last.number), last.torn_bytes)
            self._appender = segments.Appender(self.folder, last.number, self.secret, length=last.whole_length,
                                               last_link=last.last_link)
        segments.create_folder(self.folder)
        if pending is not None:
            log.warning("finishing a key rotation that was interrupted (%s)", pending.path)
            self._history.begin()
            self._finish_rotation(pending, keys)
        if old is not None:  # a migration that ended before the old file was removed
            migration.check_migrated(old, old_path, keys, self.secret, self._index.meta, self.folder)
        migration.remove_old_files(self.data_dir, old_path)  # and backups an interrupted clean-up left
        self._history.save(self.key, self._keys)  # a store new, ahead, restored or rotated is anchored now

    def _open_ledger(self, entry: Optional[anchor.Entry]) -> int:
        """Read the spent ledger and check it against the anchor (StoreRejected if behind it, or damaged
        where the anchor says there is one); its write count, as the anchor is to hold it."""
        anchored = entry is not None and entry.ledger > 0
        try:
            writes = self._spent.load(self.key, set_aside_damaged=not anchored and not self.read_only)
        except LedgerDamaged as exc:
            if entry is not None and entry.ledger > 0 and not self._accept_restore:  # anchored
                raise StoreRejected(anchor.refusal(self.folder, self.anchor_path, entry,
                                                   f"the spent ledger cannot be read ({exc})"))
            log.warning("%s; taken as empty", exc)
            self._spent.empty_unread()
            writes = 0
        if entry is None or writes >= entry.ledger:
            return writes
        if not self._accept_restore:
            anchor.check_ledger(entry, writes, self._spent.path, self.folder, self.anchor_path)
        self._spent.renumber(self.key, entry.ledger + 1)  # accepted as it is, counted on past the anchor
        return entry.ledger + 1

    def _numbers(self) -> list[int]:
        try:
            return segments.segment_numbers(self.folder)
        except segments.SegmentDamaged as exc:
            raise StoreRejected(str(exc))

    def _load_segments(self, numbers: list[int], keys: list[StoreKey]):
        """Read, check and load every segment: (what each holds for the anchor, the newest one's content)."""
        states, content = {}, None
        for position, number in enumerate(numbers):
            path = segments.segment_path(self.folder, number)
            try:
                content = segments.read(self.folder, number, self.secret, last=position == len(numbers) - 1)
            except segments.SegmentDamaged as exc:
                raise StoreRejected(str(exc))
            self._index.segments.setdefault(number, set())
            generations = []
            for index, body in enumerate(content.bodies):
                what = f"{path} record {index}"
                groups, place = records.decode_placed(body, keys, what)
                if place is not None and place.segment != number:
                    raise StoreRejected(f"{what} was written to segment {place.segment}, not {number} (moved)")
                generations.append(place.generation if place is not None else 0)
                for group in groups:
                    self._index.load(group, number, str(path))
            states[number] = SegmentState(path, generations, content.links)
        self._index.publish()
        return states, content

    def _open_old_file(self, data: bytes, path: Path) -> None:
        """A faces.pkl of an earlier release: read it, then (unless read-only) migrate it to segments."""
        identities, self.key = migration.read_old_file(data, path, self.key_path, self.secret,
                                                       create_key=not self.read_only)
        if self.read_only:
            self._index.remember(identities, 0)
            return
        try:
            self._index.check_loadable(identities)
        except ValueError as exc:  # a file the segments could not hold stays as it is, in charge
            raise StoreRejected(f"{path} cannot be migrated ({exc}); it was left as it is")
        generation = self._history.begin()
        migration.write_segments(self.data_dir, self.folder, identities, self.key, self.secret,
                                 self._segment_identities, generation)
        states, _ = self._load_segments(segments.segment_numbers(self.folder), [self.key])
        self._history.opened(None, states, self.folder)
        self._keys = [*self._keys, self.key]
        if self.key.path != self.key_path:  # the old file was mid-rotation: the new key is now the key
            installation.reseal(self.data_dir / SECRET_FILE, self.secret, self.key)
            self._history.save(self.key, self._keys, strict=self.anchor_path.exists())
            self._swap_in_key(self.key)
        self._history.save(self.key, self._keys)
        migration.remove_old_files(self.data_dir, path)
        log.warning("migrated %s (%d identities) to sealed segments in %s/ and removed it, so that a deleted "
                    "person is gone from every file", path.name, len(identities), self.folder)

    def _finish_rotation(self, new_key: StoreKey, old_keys: list[StoreKey]) -> None:
        """Every segment, the installation secret, the side files and the anchor under new_key, then the
        key file replaced. A crash anywhere before the last step leaves each readable by one of the two
        keys; the anchor is written before the swap (strictly: one left sealed with a key that is gone
        could not be read), so the old key is never needed once it is gone."""
        self.key = new_key
        for number in sorted(self._index.segments):
            self._rewrite(number, {})
        installation.reseal(self.data_dir / SECRET_FILE, self.secret, new_key)
        reseal_side_files(self.data_dir, old_keys, new_key)
        self._keys = [*old_keys, new_key]
        self._history.save(new_key, self._keys, strict=self.anchor_path.exists(), resealed=True)
        self._swap_in_key(new_key)
        self._keys = [self.key]
        log.info("the store key is now %s", self.key.fingerprint)

    def _swap_in_key(self, new_key: StoreKey) -> None:
        if new_key.path is None:  # a rotation writes the new key to its pending path first
            raise ValueError("the new store key has no file to move into place")
        os.replace(new_key.path, self.key_path)
        fsync_folder(self.key_path.parent)
        self.key = StoreKey(new_key.secret, self.key_path)

    def _rewrite(self, number: int, changes: dict) -> None:
        raise NotImplementedError
