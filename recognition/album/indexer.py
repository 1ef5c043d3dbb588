"""Indexing albums: walk each folder, notice what was added, changed or removed since the last time,
read and embed only that, and append it to the album's index in batches.

A photo whose size and mtime are unchanged is not opened at all; one that changed is hashed first, and
only re-read when its content did change (a copy or a touch keeps its faces). A photo with no face is
remembered too, so it is not read again. What cannot be read is skipped with its reason, counted and
logged; indexing never stops for one photo. Progress is reported as it goes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from recognition.album.index import AlbumIndex, PhotoEntry, file_digest
from recognition.album.photos import PhotoSkipped, read_photo
from recognition.album.walker import FileState, WalkReport, walk
from recognition.faces import Box

log = logging.getLogger(__name__)

MAX_SIDE = 1280  # album photos are scaled to this before faces are sought (and searched at this width)


class FaceFinder(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]: ...


class Aligner(Protocol):
    def chips(self, image: np.ndarray, boxes: list[Box], size: tuple[int, int]) -> list[np.ndarray]: ...


class Embedder(Protocol):
    input_size: tuple[int, int]

    def embed(self, chips: list[np.ndarray]) -> np.ndarray: ...


@dataclass
class Progress:
    state: str = "indexing"  # "indexing", "ready", or "failed" (logged)
    total: int = 0  # photos found in the albums so far
    done: int = 0  # of those, looked at (unchanged, indexed or skipped)
    photos: int = 0  # in the index
    faces: int = 0  # in the index
    read: int = 0  # photos read and searched for faces in this run (the rest were unchanged)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> photos (and folders) passed over

    def to_json(self) -> dict:
        return {"state": self.state, "total": self.total, "done": self.done, "photos": self.photos,
                "faces": self.faces, "read": self.read, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped)}


class AlbumIndexer:
    """batch: photos appended to the index in one record (a kill -9 loses at most that many);
    max_side: photos are scaled down to this before faces are sought."""

    def __init__(self, detector: FaceFinder, aligner: Aligner, embedder: Embedder, *, batch: int = 16,
                 max_side: int = MAX_SIDE) -> None:
        self._detector = detector
        self._aligner = aligner
        self._embedder = embedder
        self._batch = batch
        self._max_side = max_side
        self.progress = Progress()
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, embedder: Embedder) -> "AlbumIndexer":
        """The indexer the server and the command line use: a Haar detector and an aligner of its own
        (at album resolution, apart from live recognition's), the given model's embedder."""
        from recognition.models.aligner import LandmarkAligner
        from recognition.models.detector import HaarDetector
        from recognition.models.weights import landmark_model_path

        return cls(HaarDetector(detect_width=MAX_SIDE), LandmarkAligner(landmark_model_path()), embedder)

    def index(self, albums: Sequence[tuple[Path, AlbumIndex]], *, stop: Optional[threading.Event] = None,
              on_progress: Optional[Callable[[Progress], None]] = None) -> Progress:
        """Bring each album's index up to date with its folder; returns the final progress (of this run:
        each run counts afresh)."""
        self._update(**vars(Progress()))
        report = WalkReport(self.progress.skipped)
        listings = []
        for folder, album_index in albums:
            listing = dict(walk(folder, report))
            listings.append((folder, album_index, listing))
            album_index.drop([path for path in list(album_index.entries) if path not in listing])
            self._update(total=self.progress.total + len(listing))
        entries = [entry for _, album_index in albums for entry in album_index.entries.values()]
        self._update(photos=len(entries), faces=sum(entry.faces for entry in entries))
        for folder, album_index, listing in listings:
            self._index_one(folder, album_index, listing, report, stop, on_progress)
            if stop is not None and stop.is_set():
                break
        else:
            self._update(state="ready")
        if on_progress:
            on_progress(self.progress)
        return self.progress

    def _index_one(self, folder: Path, album_index: AlbumIndex, listing: dict[str, FileState], report: WalkReport,
                   stop, on_progress) -> None:
        pending: list[PhotoEntry] = []
        for relative, state in listing.items():
            if stop is not None and stop.is_set():
                break
            known = album_index.entries.get(relative)
            if known is None or (known.size, known.mtime_ns) != (state.size, state.mtime_ns):
                entry = self._entry(folder / relative, relative, state, known, report)
                if entry is not None:
                    pending.append(entry)
                    self._update(photos=self.progress.photos + (known is None),
                                 faces=self.progress.faces + entry.faces - (known.faces if known else 0))
            if len(pending) >= self._batch:
                album_index.put(pending)
                pending = []
            self._update(done=self.progress.done + 1)
            if on_progress:
                on_progress(self.progress)
        album_index.put(pending)

    def _entry(self, path: Path, relative: str, state: FileState, known: Optional[PhotoEntry],
               report: WalkReport) -> Optional[PhotoEntry]:
        """The photo's index entry: its faces found and embedded, or kept when only its mtime changed."""
        try:
            digest = file_digest(path)
            if known is not None and known.digest == digest:
                return replace(known, size=state.size, mtime_ns=state.mtime_ns)
            photo = read_photo(path, max_side=self._max_side)
            self._update(read=self.progress.read + 1)
        except PhotoSkipped as skipped:
            report.skip(skipped.reason, path, str(skipped))
            return None
        except OSError as exc:  # vanished or not allowed between the walk and now
            report.skip("unreadable", path, exc.strerror or str(exc))
            return None
        boxes = self._detector.detect(photo.image)
        height, width = photo.image.shape[:2]
        relative_boxes = np.array([[b.x / width, b.y / height, b.w / width, b.h / height] for b in boxes],
                                  dtype=np.float32).reshape(-1, 4)
        if boxes:
            vectors = self._embedder.embed(self._aligner.chips(photo.image, boxes, self._embedder.input_size))
        else:
            vectors = np.zeros((0, getattr(self._embedder, "dimensions", 0) or 0), np.float32)
        return PhotoEntry(relative, state.size, state.mtime_ns, digest, photo.width, photo.height,
                          relative_boxes, np.asarray(vectors, dtype=np.float32))

    def failed(self) -> None:
        """Indexing stopped on an error (logged by the caller); the progress says so."""
        self._update(state="failed")

    def _update(self, **changes) -> None:
        with self._lock:
            self.progress = replace(self.progress, **changes)
