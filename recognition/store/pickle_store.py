"""The embedded store: sealed pickle records in segment files under <data dir>/faces/.

How each promise is kept:
- a write costs the same at 100 and at a million identities: an enrollment appends one record to the
  newest segment (one fsync); a rename, "not this person" or delete rewrites only the one segment
  (at most segment_identities people) that holds the identity, from memory, atomically;
- delete = gone: that segment is rewritten without the person before the answer, so no file of the
  store holds their vectors, not even sealed;
- crash-safe: acknowledged only after fsync; a torn last record from a crash is cut off on open;
- encrypted and signed: records are sealed with the store key (vault.py) and chained by HMAC under the
  installation secret (segments.py), itself sealed with the key (installation.py); opened with a
  restricted unpickler (records.py);
- no silent rollback: each write's generation is sealed in its records and recorded, with each
  segment's last link, in an anchor outside the data dir (anchor.py, history.py) before the write is
  acknowledged; a store behind its anchor is refused at open;
- readers never wait for a writer: matching reads an immutable gallery snapshot (gallery.py);
- one writer per data dir (atomic.DataDirLock); single-file stores of earlier releases are migrated.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from recognition.store import anchor, records, segments
from recognition.store.atomic import DataDirLock
from recognition.store.changes import IdentityChanges
from recognition.store.history import History
from recognition.store.identity import Identity
from recognition.store.interface import Candidate, Enrolled, FindExisting, StoreWriteFailed
from recognition.store.memory import StoreIndex
from recognition.store.opening import SECRET_FILE, SegmentOpening
from recognition.store.reading import MemoryReads
from recognition.store.spent import SpentFile
from recognition.store.vault import StoreKey, check_outside, pending_key_path

log = logging.getLogger(__name__)

STORE_FOLDER = "faces"
__all__ = ["PickleStore", "SECRET_FILE", "STORE_FOLDER", "SEGMENT_IDENTITIES"]
# People per segment: what one rename or delete rewrites (about 1 MB with 128-d vectors), and what
# bounds the number of files (a million people: about 490).
SEGMENT_IDENTITIES = 2048


class PickleStore(MemoryReads, IdentityChanges, SegmentOpening):
    """The FaceStore of one data dir. read_only opens without the writer lock and never writes (to list
    or export while a server runs); it cannot migrate or finish a key rotation. secret: the installation
    secret a new store takes (a store moved here from another backend keeps its hashes). anchor_path:
    where the anchor is kept (None: beside the key file); it must be outside the data dir, and a place
    the data dir's copies do not travel to. accept_restore: take the store as it is even if it is
    behind its anchor (a backup restored on purpose), and anchor it so."""

    def __init__(self, data_dir: Path, key_path: Path, *, read_only: bool = False,
                 segment_identities: int = SEGMENT_IDENTITIES, secret: Optional[bytes] = None,
                 anchor_path: Optional[Path] = None, accept_restore: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.folder = self.data_dir / STORE_FOLDER
        self.location = str(self.folder)
        self.key_path = Path(key_path)
        self.read_only = read_only
        if read_only and accept_restore:
            raise ValueError("accepting a restore writes the anchor: open the store for writing")
        self._accept_restore = accept_restore
        self.anchor_path = Path(anchor_path) if anchor_path is not None else anchor.default_path(self.key_path)
        self._history = History(self.anchor_path, self.data_dir)
        self._segment_identities = segment_identities
        self._writer = threading.Lock()  # held for a whole write, disk included; readers never take it
        self._state = threading.Lock()  # held only while memory changes, by readers of whole identities
        self._index = StoreIndex()
        self._given_secret = secret  # the installation secret a new store takes (moved here from elsewhere)
        self._appender: Optional[segments.Appender] = None
        self.key: StoreKey  # set by _open (the key file's, or the one a rotation left pending)
        self._keys: list[StoreKey] = []  # the keys the anchor may be sealed with
        self._spent = SpentFile(self.data_dir, lambda: (self.key, self.secret))
        check_outside(self.key_path, self.data_dir)
        check_outside(self.anchor_path, self.data_dir, what="the anchor", option="--anchor-file / FACE_ANCHOR_FILE",
                      why="so an older copy of the data dir cannot bring an older anchor with it")
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

    @property
    def anchor_status(self) -> str:
        """Whether the store matched its anchor when opened, and whether the anchor can be written."""
        return self._history.status

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
            hashes: set[str] = set()
            emails: set[str] = set()
            for identity in identities:
                self._index.check_new(identity.hash, identity.email_hash, hashes, emails)
            self._index.check_loadable(identities)
            for start in range(0, len(identities), self._segment_identities):
                self._append(list(identities[start : start + self._segment_identities]))

    def spend(self, tag: bytes, until: float, *, forgettable: bool = False) -> bool:
        with self._writing("record a spent tag"):  # under the writer lock: never mid key rotation
            spent = self._spent.spend(tag, until, forgettable=forgettable)
            self._history.ledger = self._spent.writes  # anchored as the write ends, before the answer
            return spent

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
            self._history.begin()
            try:
                yield
            except OSError as exc:
                raise StoreWriteFailed(f"could not {action}: {exc.strerror or exc}; {on_failure}") from exc
            finally:  # what reached the disk is anchored, a failed write's kept part too, before any answer
                self._history.save(self.key, self._keys)

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
        generation = self._history.generation
        place = records.Place(generation, appender.number)
        appender.append(records.encode(records.group_by_model(identities), self.key, place))
        self._history.mark(appender.number, generation, appender.last_link)
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
            if self._appender is not None:  # reopened by the rewrite (unless that failed, and said so)
                self._appender.close()
            self._appender = None
        number = max(self._index.segments, default=0) + 1
        segments.create_folder(self.folder)
        self._appender = appender = segments.Appender.create(self.folder, number, self.secret)
        self._history.mark(number, 0, appender.last_link)
        self._index.segments[number] = set()
        return self._appender

    def _rewrite(self, number: int, changes: dict[str, Optional[Identity]]) -> None:
        """Write segment number anew from memory with changes applied, as one record, atomically."""
        groups = self._index.groups(number, changes)
        # One record even when nobody is left: its sealed generation is what shows a rewrite that a crash
        # kept from the anchor to be newer than it, where a segment emptied to its header would look cut off.
        generation = self._history.generation
        record = records.encode(groups, self.key, records.Place(generation, number))
        link = segments.write(self.folder, number, [record], self.secret)
        self._history.mark(number, generation, link)
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
