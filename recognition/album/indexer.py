"""Indexing albums: walk each folder, notice what was added, changed or removed since the last time,
read and embed only that, and append it to the album's index in batches.

A photo whose size and mtime are unchanged is not opened at all; one that changed is hashed first, and
only re-read when its content did change (a copy or a touch keeps its faces). A photo with no face is
remembered too, so it is not read again. What cannot be read is skipped with its reason, counted and
logged; indexing never stops for one photo. Progress is reported as it goes.

While one photo's faces are embedded (in the model process, on the other core), worker threads read,
hash and search the next few photos (Pillow's decoding and OpenCV's detection release the GIL): the
two stages overlap instead of taking turns. A photo's file is read once, for its hash and its pixels.
"""
from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Generator, Optional, Protocol, Sequence, Union

import numpy as np

from recognition.album.index import AlbumIndex, PhotoEntry, file_digest
from recognition.album.photos import PhotoSkipped, read_photo
from recognition.album.videos import MAX_SECONDS, SECONDS_PER_SECOND, appearance_vectors, is_video, read_video_faces
from recognition.album.walker import FileState, WalkReport, walk
from recognition.models.aligner import Aligner
from recognition.models.detectors import FaceDetector
from recognition.models.embedder import Embedder, chip_size

log = logging.getLogger(__name__)

MAX_SIDE = 1280  # album photos are scaled to this before faces are sought (and searched at this width)
READ_AT_ONCE = 64 << 20  # a photo up to this size is read once, hashed and decoded from memory
WORKER_TIMEOUT = 300.0  # seconds one photo may take to read and search before indexing gives up
# A video gives itself up when it decodes too slowly (videos.py); this is the last resort beyond that.
VIDEO_TIMEOUT = WORKER_TIMEOUT + SECONDS_PER_SECOND * MAX_SECONDS


@dataclass
class Progress:
    state: str = "indexing"  # "indexing", "ready", or "failed" (logged)
    total: int = 0  # photos found in the albums so far
    done: int = 0  # of those, looked at (unchanged, indexed or skipped)
    photos: int = 0  # in the index
    faces: int = 0  # in the index
    read: int = 0  # photos read and searched for faces in this run (the rest were unchanged)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> photos (and folders) passed over
    # Albums indexed with other servers (shared_indexer.py): files each server indexed, by server id.
    by_server: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        shared = {"by_server": dict(self.by_server)} if self.by_server else {}
        return {"state": self.state, "total": self.total, "done": self.done, "photos": self.photos,
                "faces": self.faces, "read": self.read, "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped), **shared}


class KnownEntries(Protocol):
    """What the reading stage compares a file with: an index, or the entries of files claimed."""

    entries: dict[str, PhotoEntry]


@dataclass(frozen=True)
class _Prepared:
    """A photo read and searched in a worker thread, its faces waiting to be embedded."""
    digest: str
    kept: bool = False  # its content is unchanged: the known entry stands
    skipped: Optional[tuple[str, str]] = None  # (reason, detail)
    width: int = 0
    height: int = 0
    # (n, 4) x, y, w, h as fractions of the photo's size; none for a photo skipped or kept
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    chips: list = field(default_factory=list)
    # A video's: (appearances, 3) seconds (came, left, seen best), and how many of chips each appearance has
    times: Optional[np.ndarray] = None
    views: list = field(default_factory=list)


class AlbumIndexer:
    """batch: photos appended to the index in one record (a kill -9 loses at most that many; the few
    being read ahead were not indexed yet); max_side: photos are scaled down to this before faces are
    sought; workers: threads reading and searching the next photos while this one's faces are embedded
    (one already overlaps the two stages; a second decodes while the first detects, which pays on large
    photos; more than the cores only adds memory)."""

    def __init__(self, detector: FaceDetector, aligner: Aligner, embedder: Embedder, *, batch: int = 16,
                 max_side: int = MAX_SIDE, workers: int = 2) -> None:
        self._detector = detector
        self._aligner = aligner
        self._embedder = embedder
        self._batch = batch
        self._max_side = max_side
        self._workers = workers
        self._ahead = 2 * workers  # photos read ahead: enough to keep every worker busy
        self.progress = Progress()
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, embedder: Embedder, detector: str = "haar", min_face: int = 40, **options) -> "AlbumIndexer":
        """The indexer the server and the command line use: a detector and an aligner of its own (at
        album resolution, apart from live recognition's), the given model's embedder. min_face is in
        pixels of the photo scaled to MAX_SIDE; options go to the constructor."""
        from recognition.models.aligner import LandmarkAligner
        from recognition.models.detectors import make_detector
        from recognition.models.weights import landmark_model_path

        found_by = make_detector(detector, min_face=min_face, detect_width=MAX_SIDE, mtcnn=embedder)
        return cls(found_by, LandmarkAligner(landmark_model_path()), embedder, **options)

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
        try:
            with closing(self._prepared(folder, album_index, listing, stop)) as photos:
                for relative, state, known, prepared in photos:
                    if prepared is not None:
                        entry = self._entry(prepared, relative, state, known, folder, report)
                        if entry is not None:
                            pending.append(entry)
                            self._update(photos=self.progress.photos + (known is None),
                                         faces=self.progress.faces + entry.faces - (known.faces if known else 0))
                        elif known is not None:  # it was a photo and is not one now (replaced, damaged): out
                            album_index.drop([relative])
                            self._update(photos=self.progress.photos - 1, faces=self.progress.faces - known.faces)
                    if len(pending) >= self._batch:
                        album_index.put(pending)
                        pending = []
                    self._update(done=self.progress.done + 1)
                    if on_progress:
                        on_progress(self.progress)
        finally:  # what was embedded is kept, even when stopped or failing midway
            album_index.put(pending)

    def _prepared(self, folder: Path, album_index: "KnownEntries", listing: dict[str, FileState],
                  stop) -> Generator[tuple[str, FileState, Optional[PhotoEntry], Optional[_Prepared]], None, None]:
        """Each photo of the listing, in order, with its faces found (None when it is unchanged): the next
        photos are read and searched in worker threads while this thread waits for the model process."""
        window: deque[tuple[str, FileState, Optional[PhotoEntry], Optional[Future]]] = deque()
        items = iter(listing.items())
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="album-read")
        try:
            while True:
                while len(window) < self._ahead and (item := next(items, None)) is not None:
                    relative, state = item
                    known = album_index.entries.get(relative)
                    changed = known is None or (known.size, known.mtime_ns) != (state.size, state.mtime_ns)
                    future = pool.submit(self._prepare, folder / relative, state, known, stop) if changed else None
                    window.append((relative, state, known, future))
                if not window or (stop is not None and stop.is_set()):
                    return
                relative, state, known, future = window[0]
                timeout = VIDEO_TIMEOUT if is_video(Path(relative)) else WORKER_TIMEOUT
                prepared = None if future is None else _result(future, stop, timeout)
                if future is not None and (prepared is None or (prepared.skipped or ("",))[0] == "stopped"):
                    return  # stopped while waiting, or a video stopped midway: not reached, not skipped
                window.popleft()
                yield relative, state, known, prepared
        finally:  # done, stopped or failed: photos not yet started are dropped, those started finish
            futures = [future for *_, future in window if future is not None]
            for future in futures:
                future.cancel()
            stuck = wait(futures, timeout=WORKER_TIMEOUT).not_done
            if stuck:
                log.warning("album: a photo still being read after %.0fs; not waiting for it", WORKER_TIMEOUT)
            pool.shutdown(wait=not stuck)  # the workers are idle: they end at once

    def _prepare(self, path: Path, state: FileState, known: Optional[PhotoEntry],
                 stop: Optional[threading.Event] = None) -> _Prepared:
        """In a worker thread: the photo read once (hashed from the same bytes), its faces found and
        aligned; the photo kept as it was when only its mtime changed. Never raises for a bad photo."""
        if is_video(path):
            return self._prepare_video(path, known, stop)
        source: Union[Path, BinaryIO]
        try:
            if state.size > READ_AT_ONCE:  # hashed and decoded from the file: not all of it in memory
                digest, source = file_digest(path), path
            else:
                data = path.read_bytes()
                digest, source = hashlib.sha256(data).hexdigest(), io.BytesIO(data)
            if known is not None and known.digest == digest:
                return _Prepared(digest, kept=True)
            photo = read_photo(source, max_side=self._max_side)
        except PhotoSkipped as skipped:
            return _Prepared("", skipped=(skipped.reason, str(skipped)))
        except OSError as exc:  # vanished or not allowed between the walk and now
            return _Prepared("", skipped=("unreadable", exc.strerror or str(exc)))
        except Exception as exc:  # a decoder's own failure on a strange file: that photo only is skipped
            log.warning("album: %s could not be read", path, exc_info=True)
            return _Prepared("", skipped=("unreadable", f"{type(exc).__name__}: {exc}"))
        boxes = self._detector.detect(photo.image)
        chips = self._aligner.chips(photo.image, boxes, chip_size(self._embedder)) if boxes else []
        height, width = photo.image.shape[:2]
        relative_boxes = np.array([[b.x / width, b.y / height, b.w / width, b.h / height] for b in boxes],
                                  dtype=np.float32).reshape(-1, 4)
        return _Prepared(digest, width=photo.width, height=photo.height, boxes=relative_boxes, chips=chips)

    def _prepare_video(self, path: Path, known: Optional[PhotoEntry], stop: Optional[threading.Event]) -> _Prepared:
        """In a worker thread: the video hashed, then (when its content changed) its frames sampled and its
        faces followed into appearances, each with its best views' chips. Never raises for a bad video."""
        try:
            digest = file_digest(path)
            if known is not None and known.digest == digest:
                return _Prepared(digest, kept=True)
            found = read_video_faces(path, self._detector, self._aligner, chip_size(self._embedder),
                                     max_side=self._max_side, stop=stop)
        except PhotoSkipped as skipped:
            return _Prepared("", skipped=(skipped.reason, str(skipped)))
        except OSError as exc:
            return _Prepared("", skipped=("unreadable", exc.strerror or str(exc)))
        except Exception as exc:  # a decoder's own failure on a strange file: that video only is skipped
            log.warning("album: %s could not be read", path, exc_info=True)
            return _Prepared("", skipped=("unreadable", f"{type(exc).__name__}: {exc}"))
        return _Prepared(digest, width=found.width, height=found.height, boxes=found.boxes, chips=found.chips,
                         times=found.times, views=found.views)

    def _entry(self, prepared: _Prepared, relative: str, state: FileState, known: Optional[PhotoEntry], folder: Path,
               report: WalkReport) -> Optional[PhotoEntry]:
        """The photo's index entry: its faces embedded, or kept when only its mtime changed."""
        if prepared.skipped is not None:
            report.skip(prepared.skipped[0], folder / relative, prepared.skipped[1])
            return None
        if prepared.kept:
            if known is None:  # _prepare keeps only a photo it knew
                raise RuntimeError(f"{folder / relative} was kept unchanged but has no index entry")
            return replace(known, size=state.size, mtime_ns=state.mtime_ns)
        self._update(read=self.progress.read + 1)
        if prepared.chips:
            vectors = self._embedder.embed(prepared.chips)
            if prepared.times is not None:  # a video: each appearance's views make one vector
                vectors = appearance_vectors(vectors, prepared.views)
        else:
            vectors = np.zeros((0, self._embedder.dimensions or 0), np.float32)
        return PhotoEntry(relative, state.size, state.mtime_ns, prepared.digest, prepared.width, prepared.height,
                          prepared.boxes, np.asarray(vectors, dtype=np.float32), prepared.times)

    def failed(self) -> None:
        """Indexing stopped on an error (logged by the caller); the progress says so."""
        self._update(state="failed")

    def _update(self, **changes) -> None:
        with self._lock:
            self.progress = replace(self.progress, **changes)


def _result(future: Future, stop: Optional[threading.Event], timeout: float = WORKER_TIMEOUT) -> Optional[_Prepared]:
    """A worker's answer, waited for in short slices so a stop is honoured meanwhile (None then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return future.result(timeout=0.1)
        except TimeoutError:
            if stop is not None and stop.is_set():
                return None
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading a photo or video took longer than {timeout:.0f}s") from None
