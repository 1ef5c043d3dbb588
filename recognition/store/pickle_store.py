"""The embedded store: sealed pickle records in segment files under <data dir>/faces/.

How each promise is kept:
- a write costs the same at 100 and at a million identities: an enrollment appends one record to the
  newest segment (one fsync); a rename, "not this person" or delete rewrites only the one segment
  (at most segment_identities people) that holds the identity, from memory, atomically;
- delete = gone: that segment is rewritten without the person before the answer, so no file of the
  store holds their vectors, not even sealed;
- crash-safe: acknowledged only after fsync; a torn last record from a crash is cut off on open;
- encrypted and signed: records are sealed with the store key (vault.py) and chained by HMAC under the
  installation secret (segments.py); opened with a restricted unpickler (records.py);
- readers never wait for a writer: matching reads an immutable gallery snapshot (gallery.py);
- one writer per data dir (atomic.DataDirLock); single-file stores of earlier releases are migrated.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence


from recognition.store import legacy, migration, records, segments
from recognition.store.atomic import DataDirLock, fsync_folder, remove_stale_temporaries
from recognition.store.identity import Identity
from recognition.store.interface import Candidate, Enrolled, FindExisting, StoreRejected, StoreWriteFailed
from recognition.store.memory import StoreIndex
from recognition.store.changes import IdentityChanges
from recognition.store.reading import MemoryReads
from recognition.store.spent import SpentFile
from recognition.store.vault import (
    StoreKey, check_outside, pending_key_path, read_keys, read_or_create_key, read_or_create_secret, reseal_side_files,
)

log = logging.getLogger(__name__)

STORE_FOLDER = "faces"
SECRET_FILE = "installation_secret"
# People per segment: what one rename or delete rewrites (about 1 MB with 128-d vectors), and what
# bounds the number of files (a million people: about 490).
SEGMENT_IDENTITIES = 2048


class PickleStore(MemoryReads, IdentityChanges):
    """The FaceStore of one data dir. read_only opens without the writer lock and never writes (to list
    or export while a server runs); it cannot migrate or finish a key rotation. secret: the installation
    secret a new store takes (a store moved here from another backend keeps its hashes)."""

    def __init__(self, data_dir: Path, key_path: Path, *, read_only: bool = False,
                 segment_identities: int = SEGMENT_IDENTITIES, secret: Optional[bytes] = None) -> None:
        self.data_dir = Path(data_dir)
        self.folder = self.data_dir / STORE_FOLDER
        self.location = str(self.folder)
        self.key_path = Path(key_path)
        self.read_only = read_only
        self._segment_identities = segment_identities
        self._writer = threading.Lock()  # held for a whole write, disk included; readers never take it
        self._state = threading.Lock()  # held only while memory changes, by readers of whole identities
        self._index = StoreIndex()
        self._given_secret = secret  # the installation secret a new store takes (moved here from elsewhere)
        self._appender: Optional[segments.Appender] = None
        self.key: Optional[StoreKey] = None
        self._spent = SpentFile(self.data_dir, lambda: (self.key, self.secret))
        check_outside(self.key_path, self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._dir_lock = None if read_only else DataDirLock(self.data_dir).acquire()
        started = time.monotonic()
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        log.info("loaded %d identities from %s/ (%d segments) in %.2f s", len(self), self.folder,
                 len(self._index.segments), time.monotonic() - started)

    @property
    def segment_count(self) -> int:
        return len(self._index.segments)

    # -- writing: each returns once the change is on disk, and only then shows it ----------------
    def enroll(self, model: str, candidates: Sequence[Candidate], find_existing: FindExisting) -> list[Enrolled]:
        if not candidates:
            return []
        with self._writing("enroll"):
            outcomes, created = self._index.plan_enrollment(model, candidates, find_existing)
            if created:
                self._append(created)
            return outcomes

    def add_many(self, identities: Sequence[Identity]) -> None:
        with self._writing("add identities", "those written before the failure are kept"):
            hashes, emails = set(), set()
            for identity in identities:
                self._index.check_new(identity.hash, identity.email_hash, hashes, emails)
            self._index.check_loadable(identities)
            for start in range(0, len(identities), self._segment_identities):
                self._append(list(identities[start : start + self._segment_identities]))

    def spend(self, tag: bytes, until: float) -> bool:
        with self._writing("record a spent tag"):  # under the writer lock: never mid key rotation
            return self._spent.spend(tag, until)

    def is_spent(self, tag: bytes) -> bool:
        return self._spent.is_spent(tag)

    def rotate_key(self) -> StoreKey:
        """Re-encrypt every segment under a new key, then make that key current.

        The new key is first written beside the old one (<key>.next). A crash at any point leaves every
        segment readable by one of the two keys, and the next open finishes the rotation.
        """
        with self._writing("rotate the key", "the rotation is finished when the store is next opened"):
            pending = pending_key_path(self.key_path)
            # A rotation that failed earlier left segments under its pending key: finish with that one.
            new_key = StoreKey.read(pending) if pending.exists() else StoreKey.generate().write(pending)
            self._finish_rotation(new_key, [self.key])
            return self.key

    def close(self, timeout: float = 10.0) -> None:
        """Release the data dir, after a write in progress (if any) has ended; never mid-write."""
        writing = self._writer.acquire(timeout=timeout)
        try:
            if not writing:
                log.error("a write still runs after %.0f s; the store is left open rather than cut mid-write", timeout)
                return
            if self._appender is not None:
                self._appender.close()
                self._appender = None
            if self._dir_lock is not None:
                self._dir_lock.release()
                self._dir_lock = None
        finally:
            if writing:
                self._writer.release()

    def __enter__(self) -> "PickleStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _writing(self, action: str, on_failure: str = "nothing was changed") -> Iterator[None]:
        if self.read_only:
            raise PermissionError(f"the store was opened read-only; cannot {action}")
        with self._writer:
            try:
                yield
            except OSError as exc:
                raise StoreWriteFailed(f"could not {action}: {exc.strerror or exc}; {on_failure}") from exc

    def _change(self, identity_hash: str, change: Callable[[Identity], Optional[Identity]],
                show: Callable[[], None]) -> Identity:
        """Rewrite the identity's segment with change applied (None: removed), then show() it in memory."""
        with self._writing("change an identity"):
            before = self._index.identity(identity_hash)  # KeyError if absent
            after = change(before)
            self._rewrite(self._index.meta[identity_hash].segment, {identity_hash: after})
            with self._state:
                show()
            return after if after is not None else before

    def _append(self, identities: list[Identity]) -> None:
        appender = self._active_appender()
        appender.append(records.encode(records.group_by_model(identities), self.key))
        with self._state:
            self._index.remember(identities, appender.number)

    def _active_appender(self) -> segments.Appender:
        """The newest segment's appender; a full one is compacted to one record and a new one begun."""
        if self._appender is not None and self._appender.broken:
            self._rewrite(self._appender.number, {})
        appender = self._appender
        if appender is not None and len(self._index.segments.get(appender.number, ())) < self._segment_identities:
            return appender
        if appender is not None:
            self._rewrite(appender.number, {})  # closed from now on: one record opens faster than many
            self._appender.close()
            self._appender = None
        number = max(self._index.segments, default=0) + 1
        segments.create_folder(self.folder)
        self._appender = segments.Appender.create(self.folder, number, self.secret)
        self._index.segments[number] = set()
        return self._appender

    def _rewrite(self, number: int, changes: dict[str, Optional[Identity]]) -> None:
        """Write segment number anew from memory with changes applied, as one record, atomically."""
        groups = self._index.groups(number, changes)
        bodies = [records.encode(groups, self.key)] if groups else []
        link = segments.write(self.folder, number, bodies, self.secret)
        # The new file is in place: from here nothing may fail the change, or memory would disagree with it.
        if self._appender is not None and self._appender.number == number:
            self._appender.close()
            self._appender = None  # if reopening fails, the next enrollment begins a new segment
            try:
                length = segments.segment_path(self.folder, number).stat().st_size
                self._appender = segments.Appender(self.folder, number, self.secret, length=length, last_link=link)
            except OSError as exc:
                log.error("could not reopen segment %d for appending (%s); the next enrollment starts a new one",
                          number, exc)

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        if not self.read_only:
            for leftover in remove_stale_temporaries(self.data_dir) + remove_stale_temporaries(self.folder):
                log.info("removed %s, left by an interrupted write", leftover.name)
            migration.clear_staging(self.data_dir)
        old_path = self.data_dir / legacy.LEGACY_FILE
        old = old_path.read_bytes() if old_path.exists() else None
        try:
            numbers = segments.segment_numbers(self.folder) if self.folder.is_dir() else []
        except segments.SegmentDamaged as exc:
            raise StoreRejected(str(exc))
        signed = bool(numbers) or (old is not None and not legacy.is_legacy(old))
        self.secret = read_or_create_secret(self.data_dir / SECRET_FILE, needed=signed, create=not self.read_only,
                                            given=self._given_secret)
        if old is not None and not numbers:
            self._open_old_file(old, old_path)
            return
        keys = read_keys(self.key_path, str(self.folder)) if numbers else [
            read_or_create_key(self.key_path, create=not self.read_only)]
        self._load_segments(numbers, keys)
        pending = next((k for k in keys if k.path == pending_key_path(self.key_path)), None)
        self.key = next((k for k in keys if k.path == self.key_path), pending)
        if not self.read_only:
            segments.create_folder(self.folder)
            if pending is not None:
                log.warning("finishing a key rotation that was interrupted (%s)", pending.path)
                self._finish_rotation(pending, keys)
            if old is not None:  # a migration that ended before the old file was removed
                migration.check_migrated(old, old_path, keys, self.secret, self._index.meta, self.folder)
            migration.remove_old_files(self.data_dir, old_path)  # and backups an interrupted clean-up left

    def _load_segments(self, numbers: list[int], keys: list[StoreKey]) -> None:
        for position, number in enumerate(numbers):
            last = position == len(numbers) - 1
            path = segments.segment_path(self.folder, number)
            try:
                content = segments.read(self.folder, number, self.secret, last=last)
            except segments.SegmentDamaged as exc:
                raise StoreRejected(str(exc))
            self._index.segments.setdefault(number, set())
            for index, body in enumerate(content.bodies):
                for group in records.decode(body, keys, f"{path} record {index}"):
                    self._index.load(group, number, str(path))
            if last and not self.read_only:
                if content.torn_bytes:
                    log.warning("%s: cut off %d bytes of a write a crash interrupted (it was never acknowledged)",
                                path, content.torn_bytes)
                self._appender = segments.Appender(self.folder, number, self.secret, length=content.whole_length,
                                                   last_link=content.last_link)
        self._index.publish()

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
        migration.write_segments(self.data_dir, self.folder, identities, self.key, self.secret,
                                 self._segment_identities)
        self._load_segments(segments.segment_numbers(self.folder), [self.key])
        migration.remove_old_files(self.data_dir, path)
        if self.key.path != self.key_path:  # the old file was mid-rotation: the new key is now the key
            self._swap_in_key(self.key)
        log.warning("migrated %s (%d identities) to sealed segments in %s/ and removed it, so that a deleted "
                    "person is gone from every file", path.name, len(identities), self.folder)

    def _finish_rotation(self, new_key: StoreKey, old_keys: list[StoreKey]) -> None:
        self.key = new_key
        for number in sorted(self._index.segments):
            self._rewrite(number, {})
        reseal_side_files(self.data_dir, old_keys, new_key)
        self._swap_in_key(new_key)
        log.info("the store key is now %s", self.key.fingerprint)

    def _swap_in_key(self, new_key: StoreKey) -> None:
        os.replace(new_key.path, self.key_path)
        fsync_folder(self.key_path.parent)
        self.key = StoreKey(new_key.secret, self.key_path)
