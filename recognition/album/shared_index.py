"""An album's index kept in the shared store's database, for servers that index one album together.

The album is known by its name in the API (its folder's basename) and the settings that make its vectors,
never by its absolute path: a shared drive may be mounted at another path on each server. In the database
(recognition/store/postgres/album_files.py) an album is a keyed hash of those (album_key), a file a keyed
hash of the album and its path (path_tag), both under the installation secret every server holds. The
path, and once indexed the file's entry in the index's own format (index.entries_to_columns), are sealed
with the store key under the album magic, with the album key and tag inside the seal: a row copied to
another file or album is refused.

Every server keeps all entries in memory, as AlbumIndex does (entries, snapshot(), close()), and follows
what the others write: refresh() reads the rows whose change number is newer than the last it applied.
"""
from __future__ import annotations

import hmac
import logging
import pickle
import threading
from typing import TYPE_CHECKING, Optional

from recognition.album.index import ALBUM_MAGIC, IndexDamaged, PhotoEntry, entries_from_columns, entries_to_columns
from recognition.store.interface import StoreError, StoreRejected
from recognition.store.records import restricted_loads
from recognition.store.vault import StoreKey, StoreKeyError, seal, unseal

if TYPE_CHECKING:  # psycopg is imported only by a server on a shared store
    from recognition.store.postgres.album_files import AlbumFileTable

log = logging.getLogger(__name__)

ROW_VERSION = 1
POLL_SECONDS = 1.0  # the longest another server's entry takes to be searchable here


def album_key(secret: bytes, name: str, settings: str) -> bytes:
    """The album's id in the database: the same on every server that names it alike, telling nothing."""
    return hmac.new(secret, b"faceapp album\0" + name.encode() + b"\0" + settings.encode(), "sha256").digest()[:16]


def path_tag(secret: bytes, album: bytes, path: str) -> bytes:
    return hmac.new(secret, b"faceapp album file\0" + album + path.encode(), "sha256").digest()[:16]


class SharedAlbumIndex:
    """rows: a table on a connection of this index's own (refresh() runs in the follower's thread)."""

    def __init__(self, rows: "AlbumFileTable", key: StoreKey, secret: bytes, name: str, settings: str,
                 keys: Optional[list[StoreKey]] = None) -> None:
        self.name = name
        self.settings = settings
        self.album = album_key(secret, name, settings)
        self._rows = rows
        self._key, self._keys, self._secret = key, keys or [key], secret
        self.entries: dict[str, PhotoEntry] = {}
        self._paths: dict[bytes, str] = {}  # tag -> path of what entries hold, to forget a file gone
        self._entries_lock = threading.Lock()  # searches read entries while refresh() changes them
        self._refreshing = threading.Lock()  # the follower and the indexer both refresh
        self._last_change = 0
        self.version = 0  # bumped when entries change: the library rebuilds its search matrix then
        self.refused = 0  # rows that did not open (altered, moved, another key): left out

    def tag(self, path: str) -> bytes:
        return path_tag(self._secret, self.album, path)

    def seal_row(self, path: str, entry: Optional[PhotoEntry] = None) -> bytes:
        """A row's body: the path, and the entry when the file is indexed, bound to this album and path."""
        row = {"version": ROW_VERSION, "settings": self.settings, "album": self.album, "tag": self.tag(path),
               "path": path}
        if entry is not None:
            row["put"] = entries_to_columns([entry])
        return seal(self._key, ALBUM_MAGIC, pickle.dumps(row, protocol=5))

    def open_row(self, tag: bytes, body: bytes) -> tuple[str, Optional[PhotoEntry]]:
        """The path and entry (None: not indexed yet) a row holds; IndexDamaged if it is not this row's."""
        what = f"the album file row {tag.hex()} of album {self.name}"
        try:
            row = restricted_loads(unseal(self._keys, ALBUM_MAGIC, body, what), what)
        except (ValueError, StoreKeyError, StoreRejected) as exc:
            raise IndexDamaged(str(exc)) from None
        if not isinstance(row, dict) or row.get("version") != ROW_VERSION or row.get("settings") != self.settings:
            raise IndexDamaged(f"{what} is not an album file row of version {ROW_VERSION} with these settings")
        path = row.get("path")
        if row.get("album") != self.album or row.get("tag") != tag or not isinstance(path, str) \
                or self.tag(path) != tag:
            raise IndexDamaged(f"{what} holds another file's or album's entry: it was moved or altered")
        if "put" not in row:
            return path, None
        entries = entries_from_columns(row["put"])
        if len(entries) != 1 or entries[0].path != path:
            raise IndexDamaged(f"{what} holds an entry of another path")
        return path, entries[0]

    def refresh(self) -> bool:
        """Apply what every server wrote since the last refresh; whether entries changed."""
        with self._refreshing:
            changed = self._rows.changes(self.album, self._last_change)
            if not changed:
                return False
            opened: list[tuple[bytes, Optional[PhotoEntry]]] = []  # unsealed before the lock is taken
            for row in changed:
                entry = None
                if row.state == "done" and row.body is not None:
                    try:
                        entry = self.open_row(row.tag, row.body)[1]
                    except IndexDamaged as exc:
                        self.refused += 1
                        log.warning("left out an album file: %s", exc)
                opened.append((row.tag, entry))  # None: gone, skipped (not a photo now) or refused
            with self._entries_lock:
                for tag, entry in opened:  # in the order the changes were made: the last word wins
                    path = self._paths.pop(tag, None)
                    if path is not None:
                        self.entries.pop(path, None)
                    if entry is not None:
                        self.entries[entry.path] = entry
                        self._paths[tag] = entry.path
                self._last_change = changed[-1].change
                self.version += 1
            return True

    def snapshot(self) -> list[PhotoEntry]:
        """The files indexed now, by any server; safe to call while refresh() runs."""
        with self._entries_lock:
            return list(self.entries.values())

    def close(self) -> None:
        self._rows.close()


class SharedAlbumFollower(threading.Thread):
    """Refreshes the shared indexes every POLL_SECONDS, so each server searches what the others indexed."""

    def __init__(self, indexes: list[SharedAlbumIndex], poll: float = POLL_SECONDS) -> None:
        super().__init__(name="album-follower", daemon=True)
        self._indexes = indexes
        self._poll = poll
        self._stopping = threading.Event()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self.ident is not None:  # a library stopped without being started has no thread to join
            self.join(timeout)

    def run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                for index in self._indexes:
                    index.refresh()
                if failing:
                    log.warning("album follower: the database is back")
                failing = False
            except StoreError as exc:  # away for now: search goes on with what memory holds
                if not failing:
                    log.error("album follower: %s", exc)
                failing = True
            self._stopping.wait(self._poll)


def open_shared_index(rows: "AlbumFileTable", key: StoreKey, secret: bytes, name: str,
                      settings: str) -> SharedAlbumIndex:
    """The shared index of the album called name, with every entry the database holds."""
    index = SharedAlbumIndex(rows, key, secret, name, settings)
    index.refresh()
    return index
