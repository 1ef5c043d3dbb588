"""The file store's history as its writer keeps it: the generation counter, each segment's mark, and the
anchor (anchor.py) kept up to date with them after every write."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from recognition.store.anchor import Anchor, Entry, Mark, SegmentState, check
from recognition.store.vault import StoreKey

log = logging.getLogger(__name__)


class History:
    """Owned by the store's writer (every method but status is called with its writer lock held, or
    while it opens)."""

    def __init__(self, anchor_path: Path, data_dir: Path) -> None:
        self.anchor = Anchor(anchor_path, data_dir)
        self.generation = 0  # the latest write's (the one under way, while a write runs)
        self.marks: dict[int, Mark] = {}
        self.ledger = 0  # the spent ledger's write count
        self._saved: Optional[Entry] = None  # what the anchor holds, as far as this store knows
        self._failing = False  # the last save failed (said once, until one succeeds)
        self.status = "not read yet"

    def read(self, keys: list[StoreKey]) -> Optional[Entry]:
        """This data dir's entry in the anchor (before any segment is read: a writer that runs on while a
        reader opens can only move the store ahead of what the reader read)."""
        self._saved = self.anchor.read(keys)
        if self._saved is None:
            self.status = f"no anchor yet for this data dir in {self.anchor.path}"
        return self._saved

    def opened(self, entry: Optional[Entry], states: dict[int, SegmentState], folder: Path, *,
               accept_restore: bool = False) -> None:
        """Check the segments as read against the anchor's entry (StoreRejected if behind), then take their
        marks and the generation to count on from."""
        newest = max((g for state in states.values() for g in state.generations), default=0)
        if entry is not None and not accept_restore:
            check(entry, states, folder, self.anchor.path)
        self.marks = {number: state.mark for number, state in states.items()}
        # After an accepted restore the count goes on past everything the anchor saw, so a copy of a
        # segment from before the restore can never pass for a write that is ahead of the anchor.
        self.generation = max(newest, entry.generation if entry else 0)
        if entry is None:
            self.status = f"no anchor yet for this data dir in {self.anchor.path}"
        elif accept_restore and self.entry() != entry:
            log.warning("accepted the store in %s as it is (generation %d, %d segments) in place of what its anchor "
                        "said (generation %d, %d segments)", folder, newest, len(states), entry.generation,
                        len(entry.segments))
            self.status = "restore accepted"
        elif self.entry() != entry:
            log.warning("the store in %s was ahead of its anchor (a write that a crash interrupted before the "
                        "anchor was updated; never acknowledged); the anchor is brought up to date", folder)
            self.status = f"ahead of its anchor in {self.anchor.path} (generation {entry.generation})"
        else:
            self.status = f"matches its anchor in {self.anchor.path}"

    def begin(self) -> int:
        """A new write: its generation."""
        self.generation += 1
        return self.generation

    def mark(self, number: int, generation: int, link: bytes) -> None:
        self.marks[number] = Mark(generation, link)

    def entry(self) -> Entry:
        return Entry(self.generation, dict(self.marks), self.ledger)

    def save(self, key: StoreKey, keys: list[StoreKey], *, strict: bool = False, resealed: bool = False) -> bool:
        """Write the anchor if the store moved since it was last written, or (resealed) under a new key
        whatever moved. A failure is logged loudly (rollback protection is off until a save succeeds) and,
        unless strict, not raised: the write it follows is durable already."""
        entry = self.entry()
        if (not resealed and self._saved is not None and entry.segments == self._saved.segments
                and entry.ledger == self._saved.ledger):
            return True  # nothing changed on disk (a write refused before it reached it)
        try:
            self.anchor.write(entry, key, keys)
        except OSError as exc:
            if strict:
                raise
            if not self._failing:
                log.error("ROLLBACK PROTECTION IS OFF: the anchor %s cannot be written (%s). The store works, but "
                          "an older copy of the data dir put in its place would not be noticed until the anchor can "
                          "be written again (make its folder writable, or point --anchor-file elsewhere)",
                          self.anchor.path, exc.strerror or exc)
            self._failing = True
            self.status = f"NOT ANCHORED: {self.anchor.path} cannot be written ({exc.strerror or exc})"
            return False
        if self._failing:
            log.warning("the anchor %s is written again: rollback protection is back", self.anchor.path)
        self._failing = False
        self._saved = entry
        if self.status.startswith(("NOT ANCHORED", "no anchor yet", "ahead")):
            self.status = f"matches its anchor in {self.anchor.path}"
        elif self.status == "restore accepted":
            self.status = f"restore accepted: anchored at generation {entry.generation} in {self.anchor.path}"
        return True
