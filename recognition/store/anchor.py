"""The anchor: where the file store's history stands, kept OUTSIDE the data dir and sealed with the store key.

Every write of the store has a generation, one more than the write before; every record carries the
generation that made it and its segment, sealed with it (records.Place). The anchor holds, for each data
dir that uses this key file, the latest generation and each segment's mark: the generation of its
newest record and its last link (segments.py). A write updates the anchor (in place, one fdatasync: slots.py) before
it is acknowledged. At open, each segment must be where its mark says, or ahead of it:

- the marked link is in the segment's chain, and every record after it is newer than the anchor's
  generation (an append the anchor had not recorded yet: a crash came between the two); or
- every record of the segment is newer than the anchor's generation (a rewrite it had not recorded).

Anything else is refused: a segment rolled back to an older copy, its newest records cut off, records
dropped or replaced, a segment the anchor lists that is gone, or faces/ gone altogether. Records newer
than the anchor can only be ones the store itself sealed since, so "ahead" is safe to accept.

What it cannot catch: the data dir and the anchor rolled back together (whoever can write the key's
folder can do that, and read the key besides), and anything done with the key itself.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from recognition.store import slots
from recognition.store.interface import StoreRejected
from recognition.store.vault import StoreKey

log = logging.getLogger(__name__)

ANCHOR_MAGIC = b"FACEANC\x01"
FORMAT = 1
SUFFIX = ".anchor"
LOCK_TIMEOUT = 10.0  # seconds to wait for another store's update of the same anchor file
ACCEPT_RESTORE = "python -m tools.store accept-restore"


def default_path(key_path: Path) -> Path:
    """Beside the key file: outside the data dir, as private as the key."""
    return Path(str(key_path) + SUFFIX)


@dataclass(frozen=True)
class Mark:
    """Where one segment stood after the latest write: its newest record's generation and its last link."""

    generation: int
    link: bytes


@dataclass(frozen=True)
class Entry:
    """One data dir's line in the anchor: the latest write's generation, every segment's mark, and how
    many times the spent ledger (spent.py) was written."""

    generation: int
    segments: dict[int, Mark] = field(default_factory=dict)
    ledger: int = 0

    def to_json(self) -> dict:
        return {"generation": self.generation, "ledger": self.ledger,
                "segments": {str(n): [m.generation, m.link.hex()] for n, m in sorted(self.segments.items())}}

    @classmethod
    def from_json(cls, raw) -> "Entry":
        if (not isinstance(raw, dict) or type(raw.get("generation")) is not int
                or not isinstance(raw.get("segments"), dict)):
            raise ValueError("not an anchor entry")
        marks = {}
        for number, (generation, link) in raw["segments"].items():
            if type(generation) is not int:
                raise ValueError("a segment's generation is not a number")
            marks[int(number)] = Mark(generation, bytes.fromhex(link))
        ledger = raw.get("ledger", 0)  # none in an entry written before the ledger was anchored
        if type(ledger) is not int:
            raise ValueError("the ledger's count is not a number")
        return cls(raw["generation"], marks, ledger)


@dataclass
class SegmentState:
    """What one segment file holds, as read at open."""

    path: Path
    generations: list[int]  # of each record, in order (0: written before generations existed)
    links: list[bytes]  # the header's link, then the link after each record

    @property
    def mark(self) -> Mark:
        return Mark(self.generations[-1] if self.generations else 0, self.links[-1])


class Anchor:
    """The anchor file at path, and this data dir's entry in it (the file holds one per data dir that
    uses the same key file, so `tools.store copy --to-data-dir` and tests with one key folder work)."""

    def __init__(self, path: Path, data_dir: Path) -> None:
        self.path = Path(path)
        # The path as configured, symlinks not followed: a data dir swapped for a link to an older copy
        # elsewhere is still checked against this entry.
        self.store_id = os.path.abspath(Path(data_dir).expanduser())
        self._others: Optional[dict] = None  # the other data dirs' entries, as of _seen
        self._seen: Optional[tuple] = None  # (inode, mtime, size) of the file when last read or written
        self._sequence = 0  # of the file's newest slot, as of _seen

    def read(self, keys: list[StoreKey]) -> Optional[Entry]:
        """This data dir's entry; None if the file or the entry does not exist (a store this release has
        not opened yet). StoreRejected if the file is not an anchor sealed with one of keys."""
        stores = self._read_all(keys)
        raw = stores.get(self.store_id) if stores is not None else None
        if raw is None:
            return None
        try:
            return Entry.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreRejected(f"the anchor {self.path} has a damaged entry for {self.store_id} ({exc})")

    def write(self, entry: Entry, key: StoreKey, keys: list[StoreKey]) -> None:
        """Replace this data dir's entry (atomically, the others kept); OSError if it cannot be written."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            _lock(folder, self.path.parent)
            stores = self._others if self._seen is not None and self._seen == _stat(self.path) else None
            if stores is None:
                self._sequence = 0
                try:
                    stores = dict(self._read_all(keys) or {})
                except StoreRejected as exc:  # rewritten from this store's entry alone, and said so
                    log.error("%s; writing it anew with this store's entry only", exc)
                    stores = {}
                stores.pop(self.store_id, None)
            payload = {"format": FORMAT, "stores": {**stores, self.store_id: entry.to_json()}}
            # In place, one fdatasync (slots.py). Its folder is not synced when the file is new: a power cut
            # that loses it, or the write itself, leaves the anchor older than the store, which opens "ahead".
            slots.write(self.path, key, ANCHOR_MAGIC, json.dumps(payload, separators=(",", ":")).encode(),
                        self._sequence + 1)
            self._others, self._seen, self._sequence = stores, _stat(self.path), self._sequence + 1
        finally:
            os.close(folder)  # and the lock with it

    def _read_all(self, keys: list[StoreKey]) -> Optional[dict]:
        try:
            found = slots.read(self.path, keys, ANCHOR_MAGIC, f"the anchor {self.path}")
        except OSError as exc:
            raise StoreRejected(f"the anchor {self.path} cannot be read ({exc.strerror or exc})")
        except ValueError as exc:  # altered (a wrong key raises WrongKey, which says which key it needs)
            raise StoreRejected(f"{exc}; the anchor cannot be trusted. If it was damaged, move it away and run "
                                f"`{ACCEPT_RESTORE}` to anchor the store as it is")
        if found is None:
            return None
        self._sequence = found[0]
        try:
            payload = json.loads(found[1])
        except ValueError:
            payload = None
        if (not isinstance(payload, dict) or payload.get("format") != FORMAT
                or not isinstance(payload.get("stores"), dict)):
            raise StoreRejected(f"the anchor {self.path} is of an unknown format")
        return payload["stores"]


def check(entry: Entry, states: dict[int, SegmentState], folder: Path, anchor_path: Path) -> None:
    """StoreRejected, naming each segment that is behind its anchor or not what it says, unless every
    segment is at its mark or ahead of it (see the module's docstring)."""
    newest = entry.generation
    problems = []
    for number, mark in sorted(entry.segments.items()):
        state = states.get(number)
        if state is None:
            problems.append(f"segment {number} is gone (the anchor has it at generation {mark.generation})")
            continue
        if mark.link in state.links:
            after = state.generations[state.links.index(mark.link):]
            if all(generation > newest for generation in after):
                continue
            problems.append(f"{state.path} holds records older than its anchor after the last one it anchored "
                            f"(copied in from elsewhere)")
        elif state.generations and min(state.generations) > newest:
            continue  # rewritten by a write that a crash interrupted before the anchor was updated
        elif max(state.generations, default=0) < mark.generation:
            problems.append(f"{state.path} is at generation {max(state.generations, default=0)}, its anchor at "
                            f"{mark.generation}: rolled back to an older copy, or its newest records cut off")
        else:
            problems.append(f"{state.path} is not what its anchor says (records dropped, reordered or replaced)")
    for number, state in sorted(states.items()):
        if number not in entry.segments and any(generation <= newest for generation in state.generations):
            problems.append(f"{state.path} is not in the anchor but holds records from before it (copied in)")
    if problems:
        raise StoreRejected(refusal(folder, anchor_path, entry, "; ".join(problems)))


def check_ledger(entry: Entry, writes: int, path: Path, folder: Path, anchor_path: Path) -> None:
    """StoreRejected unless the spent ledger (written `writes` times) is at its anchored count or ahead."""
    if writes < entry.ledger:
        state = f"written {writes} times" if writes else "gone, or empty"
        raise StoreRejected(refusal(folder, anchor_path, entry, f"the spent ledger {path} is {state}, its anchor "
                                    f"says {entry.ledger}: an older copy put in its place (challenges tried and "
                                    f"sessions signed out would be accepted again)"))


def refusal(folder: Path, anchor_path: Path, entry: Entry, what: str) -> str:
    return (f"the store in {folder} is not the one its anchor {anchor_path} describes (generation {entry.generation}, "
            f"{len(entry.segments)} segments): {what}. It was not loaded, and nothing was changed. If you restored "
            f"the data dir from a backup on purpose, stop the server and run `{ACCEPT_RESTORE}` (with the same "
            f"--data-dir and --key-file) to accept it as it is; otherwise restore the data dir from a newer backup")


def _stat(path: Path) -> Optional[tuple]:
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _lock(descriptor: int, folder: Path) -> None:
    """flock on the anchor's folder (released when the descriptor closes), waiting at most LOCK_TIMEOUT."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OSError(f"the anchor's folder {folder} stayed locked by another store for {LOCK_TIMEOUT:.0f} s")
            time.sleep(0.01)
