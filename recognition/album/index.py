"""An album's index: for each photo, where its faces are and their vectors, sealed like the store.

It lives in the data dir (`albums/<id>/`), never in the album folder. The id is a hash of the album's
real path and of the settings that made the vectors (model, detector), so another model starts a new
index instead of mixing vectors. It holds no picture: relative paths, the facts that tell a changed
file (size, mtime, content hash), the photo's size, face boxes relative to it, and unit vectors.

On disk it is one segment (the store's format, segments.py): records appended with one fsync each,
chained by HMAC under the installation secret, each a batch of photos pickled by column and sealed with
the store key. A record either adds or replaces photos, or removes some; the last word on a path wins.
A kill -9 loses at most the batch being written (its torn tail is cut off at the next open).
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from recognition.store import segments
from recognition.store.atomic import fsync_folder
from recognition.store.interface import StoreRejected
from recognition.store.records import restricted_loads
from recognition.store.vault import StoreKey, StoreKeyError, seal, unseal

log = logging.getLogger(__name__)

ALBUM_MAGIC = b"FACEALB\x01"
INDEX_VERSION = 1
SEGMENT = 1  # an album index is one segment; compact() rewrites it


class IndexDamaged(Exception):
    """The index failed a check (altered, from another installation, or not an album index)."""


@dataclass(frozen=True)
class PhotoEntry:
    path: str  # relative to the album, with "/" separators
    size: int
    mtime_ns: int
    digest: str  # SHA-256 of the file's bytes, hex
    width: int  # of the upright photo
    height: int
    boxes: np.ndarray  # (faces, 4) float32: x, y, w, h as fractions of width and height
    vectors: np.ndarray  # (faces, dimensions) float32, unit length
    # A video's entry: one "face" per appearance of a face, its box where it was seen best, and (faces, 3)
    # float32 seconds: when it came into view, when it left, and when it was seen best. None: a photo.
    times: Optional[np.ndarray] = None

    @property
    def faces(self) -> int:
        return len(self.boxes)

    @property
    def is_video(self) -> bool:
        return self.times is not None

    def pixel_box(self, face: int) -> list[int]:
        x, y, w, h = self.boxes[face]
        return [round(x * self.width), round(y * self.height), round(w * self.width), round(h * self.height)]


def index_id(album: Path, settings: str) -> str:
    """The index folder's name for this album and these settings."""
    return hashlib.sha256(f"{Path(album).resolve()}\0{settings}".encode()).hexdigest()[:24]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AlbumIndex:
    """Open with open(); put() and drop() each append one record; entries is the current state."""

    def __init__(self, folder: Path, key: StoreKey, keys: list[StoreKey], secret: bytes, settings: str) -> None:
        self.folder = folder
        self.settings = settings
        self._key, self._keys, self._secret = key, keys, secret
        self.entries: dict[str, PhotoEntry] = {}
        self._entries_lock = threading.Lock()  # searches read entries while the indexer changes them
        self._appender: Optional[segments.Appender] = None
        self.records = 0
        self.version = 0  # bumped by each put or drop (what the library's search matrix is built from)

    @classmethod
    def open(cls, folder: Path, key: StoreKey, secret: bytes, settings: str,
             keys: Optional[list[StoreKey]] = None) -> "AlbumIndex":
        index = cls(Path(folder), key, keys or [key], secret, settings)
        index._load()
        return index

    def put(self, entries: Sequence[PhotoEntry]) -> None:
        """Add or replace these photos (one record, on disk when this returns)."""
        if entries:
            self._append({"put": entries_to_columns(entries)})
            with self._entries_lock:
                for entry in entries:
                    self.entries[entry.path] = entry
                self.version += 1

    def drop(self, paths: Iterable[str]) -> None:
        """Forget these photos (gone from the album)."""
        paths = [path for path in paths if path in self.entries]
        if paths:
            self._append({"drop": paths})
            with self._entries_lock:
                for path in paths:
                    del self.entries[path]
                self.version += 1

    def snapshot(self) -> list[PhotoEntry]:
        """The photos indexed now; safe to call while another thread puts or drops."""
        with self._entries_lock:
            return list(self.entries.values())

    def compact(self) -> None:
        """Rewrite the index as one record of what it holds now (atomically)."""
        self._rewrite()

    def _rewrite(self) -> segments.Appender:
        """compact(), returning the appender that continues the rewritten file."""
        self.close()
        body = self._seal({"put": entries_to_columns(list(self.entries.values()))})
        link = segments.write(self.folder, SEGMENT, [body], self._secret)
        self._appender = appender = segments.Appender(
            self.folder, SEGMENT, self._secret, length=segments.segment_path(self.folder, SEGMENT).stat().st_size,
            last_link=link)
        self.records = 1
        return appender

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    def _load(self) -> None:
        path = segments.segment_path(self.folder, SEGMENT)
        if not path.exists():
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_folder(self.folder.parent)
            self._appender = segments.Appender.create(self.folder, SEGMENT, self._secret)
            return
        try:
            content = segments.read(self.folder, SEGMENT, self._secret)
        except segments.SegmentDamaged as exc:
            raise IndexDamaged(str(exc)) from None
        if content.torn_bytes:
            log.warning("album index %s: cut off %d bytes an interrupted write left", path, content.torn_bytes)
        for number, body in enumerate(content.bodies):
            self._apply(self._open(body, f"{path} record {number}"))
        self.records = len(content.bodies)
        self._appender = segments.Appender(self.folder, SEGMENT, self._secret, length=content.whole_length,
                                           last_link=content.last_link)

    def _append(self, change: dict) -> None:
        appender = self._appender
        if appender is None or appender.broken:
            appender = self._rewrite()  # a failed append left the file unsure: start again from memory
        appender.append(self._seal(change))
        self.records += 1

    def _seal(self, change: dict) -> bytes:
        change = dict(change, version=INDEX_VERSION, settings=self.settings)
        return seal(self._key, ALBUM_MAGIC, pickle.dumps(change, protocol=5))

    def _open(self, body: bytes, what: str) -> dict:
        try:
            change = restricted_loads(unseal(self._keys, ALBUM_MAGIC, body, what), what)
        except (ValueError, StoreKeyError, StoreRejected) as exc:  # altered, another key, or not ours
            raise IndexDamaged(str(exc)) from None
        if not isinstance(change, dict) or change.get("version") != INDEX_VERSION:
            raise IndexDamaged(f"{what} is not an album index record of version {INDEX_VERSION}")
        if change.get("settings") != self.settings:
            raise IndexDamaged(f"{what} was made with other settings ({change.get('settings')!r})")
        return change

    def _apply(self, change: dict) -> None:
        for path in change.get("drop", []):
            if not isinstance(path, str):
                raise IndexDamaged("an album index record names a photo by something else than a path")
            self.entries.pop(path, None)
        if "put" in change:
            for entry in entries_from_columns(change["put"]):
                self.entries[entry.path] = entry


def entries_to_columns(entries: Sequence[PhotoEntry]) -> dict:
    """Entries as a few lists and arrays (what a record pickles): the one format of an entry at rest."""
    with_faces = [e for e in entries if e.faces]
    dimensions = with_faces[0].vectors.shape[1] if with_faces else 0
    videos = [e for e in entries if e.is_video]
    return {
        "videos": [e.is_video for e in entries],
        "times": (np.concatenate([e.times for e in videos]).astype(np.float32).reshape(-1, 3) if videos
                  else np.zeros((0, 3), np.float32)),
        "paths": [e.path for e in entries],
        "sizes": [int(e.size) for e in entries],
        "mtimes": [int(e.mtime_ns) for e in entries],
        "digests": [e.digest for e in entries],
        "widths": [int(e.width) for e in entries],
        "heights": [int(e.height) for e in entries],
        "faces": [int(e.faces) for e in entries],
        "boxes": (np.concatenate([e.boxes for e in entries]).astype(np.float32) if entries
                  else np.zeros((0, 4), np.float32)),
        "vectors": (np.concatenate([e.vectors for e in with_faces]).astype(np.float32)
                    if with_faces else np.zeros((0, dimensions), np.float32)),
    }


def entries_from_columns(columns) -> list[PhotoEntry]:
    """The entries of a record's columns, every field checked before it is used."""
    try:
        names = ("paths", "sizes", "mtimes", "digests", "widths", "heights", "faces")
        lists = [list(columns[name]) for name in names]
        boxes, vectors = columns["boxes"], columns["vectors"]
    except (KeyError, TypeError) as exc:
        raise IndexDamaged(f"an album index record lacks {exc}") from None
    count = len(lists[0])
    kinds = (str, int, int, str, int, int, int)
    if any(len(values) != count or not all(isinstance(v, kind) for v in values) for values, kind in zip(lists, kinds)):
        raise IndexDamaged("an album index record has columns of different lengths or kinds")
    faces = lists[6]
    total = sum(faces)
    if (not isinstance(boxes, np.ndarray) or not isinstance(vectors, np.ndarray) or boxes.shape != (total, 4)
            or vectors.ndim != 2 or vectors.shape[0] != total or min(faces, default=0) < 0):
        raise IndexDamaged("an album index record's boxes or vectors do not match its photos")
    videos = columns.get("videos", [False] * count)  # records written before videos were indexed: photos
    times = columns.get("times", np.zeros((0, 3), np.float32))
    if (not isinstance(videos, list) or len(videos) != count or not all(isinstance(v, bool) for v in videos)
            or not isinstance(times, np.ndarray) or times.ndim != 2 or times.shape[1] != 3
            or times.shape[0] != sum(n for n, video in zip(faces, videos) if video)):
        raise IndexDamaged("an album index record's videos or their times do not match its entries")
    entries, start, timed = [], 0, 0
    for path, size, mtime, digest, width, height, n, video in zip(*lists, videos):
        faces_vectors = vectors[start : start + n] if n else np.zeros((0, vectors.shape[1]), np.float32)
        entry_times = times[timed : timed + n] if video else None
        entries.append(PhotoEntry(path, size, mtime, digest, width, height, boxes[start : start + n], faces_vectors,
                                  entry_times))
        start += n
        timed += n if video else 0
    return entries


def album_settings(model: str, detect_width: int, max_side: int, detector: str = "haar", min_face: int = 40) -> str:
    """What made an index's vectors: another model or detector setting means another index."""
    if detector == "haar":
        return f"{model}|haar-{detect_width}|{max_side}"
    return f"{model}|{detector}-{min_face}|{max_side}"


def open_album_index(data_dir: Path, key: StoreKey, secret: bytes, album: Path, settings: str) -> AlbumIndex:
    """The index of album under data_dir/albums/, sealed with the store's key and installation secret.
    An index that fails its checks (altered, or sealed with a key since rotated) is only derived from
    the photos: it is set aside and the album indexed again, rather than refusing to start."""
    folder = Path(data_dir) / "albums" / index_id(album, settings)
    try:
        return AlbumIndex.open(folder, key, secret, settings)
    except IndexDamaged as exc:
        log.warning("the index of album %s cannot be used (%s): it is removed and the album indexed again", album, exc)
        shutil.rmtree(folder)
        return AlbumIndex.open(folder, key, secret, settings)
