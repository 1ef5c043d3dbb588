"""Indexing shared albums together with the other servers of one PostgreSQL store.

Each server walks its own mount of the album (cheap) and records the files it sees; a new or changed file
is pending. Then it claims a few pending files at a time (FOR UPDATE SKIP LOCKED: two servers never
claim one file), reads, detects and embeds them with the same pipeline as a server alone (indexer.py),
and writes each result only where its claim still stands. A thread pushes its claims' deadline ahead
while it works (a video may take minutes); a server killed mid-photo stops doing so, and once the
deadline passes another server claims that file. A server stays "indexing" while files remain that
another live server is working on, so "ready" means the whole album is indexed, by whoever did it.

A walk that shows no photo, or could not read a folder, removes nothing: the mount is more likely
missing than the album emptied.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from recognition.album.index import IndexDamaged, PhotoEntry
from recognition.album.indexer import AlbumIndexer, Progress
from recognition.album.shared_index import SharedAlbumIndex
from recognition.album.walker import FileState, WalkReport, walk
from recognition.store.interface import StoreError
from recognition.store.postgres.album_files import AlbumCounts, AlbumFileTable

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = 120.0  # seconds a claim lasts unless its server pushes it ahead (it does every third of it)
WAIT_SECONDS = 1.0  # how often a server with nothing to claim looks again while others still work


def default_server_id() -> str:
    """Who claimed a file, in the database and the progress: this host and process, told apart from a
    restart of it by a few random bytes."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass
class _Known:
    """The entries the claimed files had (what the pipeline compares a file with, as it does an index)."""
    entries: dict[str, PhotoEntry]


class ClaimKeeper(threading.Thread):
    """Pushes this server's claims ahead every third of their lifetime while it indexes."""

    def __init__(self, rows: AlbumFileTable, server_id: str, seconds: float) -> None:
        super().__init__(name="album-claims", daemon=True)
        self._rows, self._server_id, self._seconds = rows, server_id, seconds
        self._stopping = threading.Event()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self.join(timeout)
        self._rows.close()

    def run(self) -> None:
        while not self._stopping.wait(self._seconds / 3):
            try:
                self._rows.extend(self._server_id, self._seconds)
            except StoreError as exc:  # the claims may lapse; a result is then refused, never doubled
                log.warning("album: could not extend this server's claims: %s", exc)


class SharedAlbumIndexer(AlbumIndexer):
    """rows() makes a table on a new connection (one per thread). claim_timeout: how long a killed
    server's files wait before another takes them, against how long a hung (not dead) server may stall
    before its work is taken from it. claim_batch: files claimed at once (more: fewer round trips;
    fewer: a fairer share between servers, and less to take over from a killed one). after_claim: called
    with the paths of each batch just claimed, before any is read (a test pauses a server there)."""

    def __init__(self, *parts, rows: Callable[[], AlbumFileTable], server_id: Optional[str] = None,
                 claim_timeout: float = CLAIM_TIMEOUT, claim_batch: int = 4, wait: float = WAIT_SECONDS,
                 after_claim: Optional[Callable[[list[str]], None]] = None, **options) -> None:
        super().__init__(*parts, **options)
        self._rows = rows
        self.server_id = server_id or default_server_id()
        self._claim_timeout = claim_timeout
        self._claim_batch = claim_batch
        self._wait = wait
        self._after_claim = after_claim
        self.indexed: list[str] = []  # the paths whose results this server wrote in its last run
        self._walk_skips: dict[str, int] = {}

    def index(self, albums: Sequence[tuple[Path, SharedAlbumIndex]], *,  # type: ignore[override]  # shared ones
              stop: Optional[threading.Event] = None,
              on_progress: Optional[Callable[[Progress], None]] = None) -> Progress:
        """Record what each album's folder holds, then index pending files with the other servers until
        none is left; the progress counts every server's work."""
        self._update(**vars(Progress()))
        self.indexed, self._walk_skips = [], {}
        stop = stop if stop is not None else threading.Event()
        rows = self._rows()
        keeper = ClaimKeeper(self._rows(), self.server_id, self._claim_timeout)
        keeper.start()
        try:
            listings = [(folder, index, self._record_walk(rows, folder, index)) for folder, index in albums]
            self._count(rows, [index for _, index in albums])
            for folder, index, listing in listings:
                self._index_shared(rows, folder, index, listing, [i for _, i in albums], stop, on_progress)
                if stop.is_set():
                    break
            else:
                self._update(state="ready")
            for _, index in albums:  # the last files other servers wrote, counted in photos and faces
                index.refresh()
            self._count(rows, [index for _, index in albums])
        finally:
            keeper.stop(timeout=5)
            rows.close()
        if on_progress:
            on_progress(self.progress)
        return self.progress

    def _record_walk(self, rows: AlbumFileTable, folder: Path, index: SharedAlbumIndex) -> dict[str, FileState]:
        report = WalkReport()
        started = rows.now()
        listing = dict(walk(folder, report))
        for reason, count in report.skipped.items():
            self._walk_skips[reason] = self._walk_skips.get(reason, 0) + count
        rows.sync(index.album, [(index.tag(path), state.size, state.mtime_ns, index.seal_row(path))
                                for path, state in listing.items()])
        if listing and "unreadable-folder" not in report.skipped:  # walked whole: what it lacks is gone
            gone = rows.mark_gone(index.album, started)
            if gone < 0:
                log.warning("album %s: this server's walk lacks %d of its files, more than half: taken for a mount "
                            "not all there, nothing is removed", index.name, -gone)
            elif gone:
                log.info("album %s: %d file(s) gone from the folder", index.name, gone)
        index.refresh()
        return listing

    def _index_shared(self, rows: AlbumFileTable, folder: Path, index: SharedAlbumIndex,
                      listing: dict[str, FileState], everything: list[SharedAlbumIndex], stop: threading.Event,
                      on_progress) -> None:
        here = {index.tag(path): path for path in listing}
        not_here: set[bytes] = set()  # files another server sees and this one does not: left to it
        if not here:
            return  # nothing of it is mounted here: claiming would only give every file back
        while not stop.is_set():
            claimed = rows.claim(index.album, self.server_id, self._claim_batch, self._claim_timeout, list(not_here))
            if not claimed:
                claimable, elsewhere = rows.outstanding(index.album, self.server_id, list(not_here))
                if not claimable and not elsewhere:
                    return  # nothing pending that this server sees, and nobody else at work
                self._count(rows, everything)
                # Others are at work (one may die and leave its files), or hold rows for a moment.
                stop.wait(self._wait if elsewhere and not claimable else min(self._wait, 0.05))
                continue
            batch: dict[str, FileState] = {}
            known: dict[str, PhotoEntry] = {}
            tags: dict[str, bytes] = {}
            for row in claimed:
                path, state = here.get(row.tag), None
                if path is not None:
                    try:
                        stat = (folder / path).stat()
                        state = FileState(stat.st_size, stat.st_mtime_ns)
                    except OSError:
                        pass
                if path is None or state is None:
                    rows.release(index.album, row.tag, self.server_id)
                    not_here.add(row.tag)
                    continue
                batch[path], tags[path] = state, row.tag
                try:
                    entry = index.open_row(row.tag, row.body)[1] if row.body is not None else None
                except IndexDamaged as exc:  # its old entry is refused: the file is read again
                    log.warning("album: %s", exc)
                    entry = None
                if entry is not None:
                    known[path] = entry
            if self._after_claim is not None:
                self._after_claim(sorted(batch))
            self._index_batch(rows, folder, index, batch, known, tags, stop)
            index.refresh()
            self._count(rows, everything)
            if on_progress:
                on_progress(self.progress)

    def _index_batch(self, rows: AlbumFileTable, folder: Path, index: SharedAlbumIndex, batch: dict[str, FileState],
                     known: dict[str, PhotoEntry], tags: dict[str, bytes], stop: threading.Event) -> None:
        """Read, detect and embed the claimed files (the next ones read while one is embedded) and write
        each one's result; the claims of files not reached (a stop) are given back."""
        finished: set[str] = set()
        report = WalkReport()  # a file skipped is logged here and counted in the database
        try:
            for relative, state, before, prepared in self._prepared(folder, _Known(known), batch, stop):
                if prepared is None:  # unchanged since it was indexed (claimed again after a lapse)
                    entry: Optional[PhotoEntry] = before
                    body, reason = index.seal_row(relative, entry), None
                else:
                    entry = self._entry(prepared, relative, state, before, folder, report)
                    reason = prepared.skipped[0] if prepared.skipped is not None else None
                    body = index.seal_row(relative, entry)
                if rows.finish(index.album, tags[relative], self.server_id, body, skip_reason=reason):
                    self.indexed.append(relative)
                else:
                    log.info("album %s: the claim on a file ran out and another server took it; its result "
                             "is that server's", index.name)
                finished.add(relative)
        finally:
            for relative in set(batch) - finished:
                rows.release(index.album, tags[relative], self.server_id)

    def _count(self, rows: AlbumFileTable, indexes: list[SharedAlbumIndex]) -> dict[bytes, AlbumCounts]:
        """The progress from the database: every server's work on these albums."""
        counts = {index.album: rows.counts(index.album, self.server_id) for index in indexes}
        skipped = dict(self._walk_skips)
        done_by: dict[str, int] = {}
        for album in counts.values():
            for reason, count in album.skipped.items():
                skipped[reason or "unreadable"] = skipped.get(reason or "unreadable", 0) + count
            for server, count in album.done_by.items():
                done_by[server] = done_by.get(server, 0) + count
        entries = [entry for index in indexes for entry in index.snapshot()]
        self._update(total=sum(c.total for c in counts.values()), done=sum(c.finished for c in counts.values()),
                     photos=len(entries), faces=sum(entry.faces for entry in entries), skipped=skipped,
                     by_server=done_by)
        return counts
