"""The albums a server may read (--album): their indexes, kept up to date in the background, searched
by face, and the only place a photo path from a client is turned into a file.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Collection, Optional, Sequence

import numpy as np

from recognition.album.corrections import PeopleCorrections, corrections_path
from recognition.album.index import AlbumIndex, album_settings, open_album_index
from recognition.album.indexer import MAX_SIDE, AlbumIndexer, Progress
from recognition.album.people import FaceRef, Person, group_people
from recognition.album.search import MAX_MATCHES, AlbumMatch, FaceMatrix
from recognition.album.shared_index import SharedAlbumFollower, SharedAlbumIndex
from recognition.album.suggestions import FLOOR_UNDER_THRESHOLD, Suggestion, mean_faces, suggest
from recognition.album.walker import resolve

log = logging.getLogger(__name__)

SHOWN_AROUND = 1.0  # seconds before or after a face's appearance in a video that its frames may be shown


def album_names(folders: Sequence[Path]) -> dict[str, Path]:
    """Each album's name in the API: its folder's name, numbered when two folders share one."""
    names: dict[str, Path] = {}
    for folder in folders:
        base = Path(folder).resolve().name or "album"
        name, number = base, 2
        while name in names:
            name, number = f"{base}-{number}", number + 1
        names[name] = Path(folder).resolve()
    return names


class AlbumError(Exception):
    """An album folder that cannot be used (missing, not a folder); the message says which."""


class AlbumLibrary:
    @classmethod
    def for_server(cls, folders: Sequence[Path], store, analyzer, *, detector: str = "haar",
                   min_face: int = 40, claim_timeout: Optional[float] = None) -> "AlbumLibrary":
        """The library of a server: indexes sealed with its store's key, faces embedded by its model
        (the same process as live recognition), found by a detector of its own at album resolution.
        With a shared store (PostgreSQL: it offers album_files), the indexes live in the database and
        every server on it indexes the albums they share together (shared_indexer.py); claim_timeout:
        how long a killed server's files wait for another (None: CLAIM_TIMEOUT). Else each album's
        index is a file in the data dir."""
        missing = [str(folder) for folder in folders if not Path(folder).is_dir()]
        if missing:
            raise AlbumError(f"album folder not found: {', '.join(missing)}")
        settings = album_settings(analyzer.model_name, MAX_SIDE, MAX_SIDE, detector, min_face)
        shared_rows = getattr(store, "album_files", None)
        open_index: Callable[[str, Path], "AlbumIndex | SharedAlbumIndex"]
        if shared_rows is None:
            def open_index(name: str, folder: Path) -> "AlbumIndex | SharedAlbumIndex":
                return open_album_index(store.data_dir, store.key, store.secret, folder, settings)

            indexer = AlbumIndexer.for_model(analyzer.embedder, detector, min_face)
        else:
            from recognition.album.shared_index import open_shared_index
            from recognition.album.shared_indexer import CLAIM_TIMEOUT, SharedAlbumIndexer

            def open_index(name: str, folder: Path) -> "AlbumIndex | SharedAlbumIndex":
                return open_shared_index(shared_rows(), store.key, store.secret, name, settings)

            indexer = SharedAlbumIndexer.for_model(analyzer.embedder, detector, min_face, rows=shared_rows,
                                                   claim_timeout=claim_timeout or CLAIM_TIMEOUT)
        return cls(folders, data_dir=store.data_dir, key=store.key, settings=settings, open_index=open_index,
                   indexer=indexer, dimensions=analyzer.embedder.dimensions)

    def __init__(self, folders: Sequence[Path], *, data_dir: Path, key, settings: str,
                 open_index: Callable[[str, Path], "AlbumIndex | SharedAlbumIndex"], indexer: AlbumIndexer,
                 dimensions: int) -> None:
        """open_index(name, folder): the album's index, this server's file or the shared one (both have
        entries, snapshot(), version and close())."""
        self.albums = album_names(folders)
        self.settings = settings
        self._indexes = {name: open_index(name, folder) for name, folder in self.albums.items()}
        shared = [index for index in self._indexes.values() if isinstance(index, SharedAlbumIndex)]
        self._follower = SharedAlbumFollower(shared) if shared else None  # the other servers' entries
        self.corrections = PeopleCorrections(corrections_path(data_dir), key, self.albums,
                                             self._boxes)
        self._indexer = indexer
        self._dimensions = dimensions
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._matrix: Optional[FaceMatrix] = None
        self._changes = 0  # bumped as the indexer goes; the search matrix is rebuilt when it moved
        self._built_at: Optional[tuple] = None
        self._grouped: Optional[tuple] = None  # ((changes, threshold), grouped) of the last grouping

    def start(self) -> "AlbumLibrary":
        self._thread = threading.Thread(target=self._index, name="album-indexer", daemon=True)
        self._thread.start()
        if self._follower is not None:
            self._follower.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._follower is not None:
            self._follower.stop(timeout)
        for index in self._indexes.values():
            index.close()

    @property
    def progress(self) -> Progress:
        return self._indexer.progress

    def search(self, queries: np.ndarray, threshold: float, limit: int = MAX_MATCHES, *,
               leave_out: Collection[FaceRef] = ()) -> list[AlbumMatch]:
        """The photos with a face at threshold or more, best first, at most limit of them; faces in
        leave_out (a hidden person's) are not searched."""
        return self._face_matrix().search(queries, threshold, limit, leave_out=leave_out)

    def suggestions(self, threshold: float, limit: int) -> list[Suggestion]:
        """Faces in no person after the corrections, each with the shown people it most resembles
        (recognition/album/suggestions.py), surest first; a face someone said is not a person is never
        suggested as it. Faces of hidden people are in a person, so they are not suggested either."""
        people, _ = self.people(threshold)
        matrix = self._face_matrix()
        assigned = {face for person in people for face in person.faces}
        loose = [ref for ref in matrix.refs if ref not in assigned]
        shown = [person for person in people if not person.hidden]
        means = mean_faces(shown, matrix.vectors_of, self._dimensions)
        return suggest(loose, matrix.vectors_of(loose), shown, means, threshold - FLOOR_UNDER_THRESHOLD,
                       not_these=frozenset(self.corrections.not_these()), limit=limit)

    def people(self, threshold: float) -> tuple[list[Person], int]:
        """The album's people, hidden ones too (flagged): its faces grouped (again only when the indexes
        changed), with the corrections applied; and how many faces are in no group."""
        grouped, alone = self._grouping(threshold)
        people = self.corrections.apply(grouped, alone)
        return people, sum(len(p.faces) for p in grouped) + len(alone) - sum(len(p.faces) for p in people)

    def person(self, person_id: str, threshold: float) -> Optional[Person]:
        return next((p for p in self.people(threshold)[0] if p.id == person_id), None)

    def _grouping(self, threshold: float) -> tuple[list[Person], list[FaceRef]]:
        with self._lock:
            if self._grouped is None or self._grouped[0] != (self._stamp(), threshold):
                vectors: list[np.ndarray] = []
                refs: list[FaceRef] = []
                places: list[tuple] = []
                for name, index in self._indexes.items():
                    for entry in index.snapshot():
                        if entry.faces and entry.vectors.shape[1] == self._dimensions:
                            vectors.append(entry.vectors)
                            refs.extend(FaceRef(name, entry.path, face) for face in range(entry.faces))
                            places.extend((name, entry.path, face if entry.is_video else -1)
                                          for face in range(entry.faces))
                grouped = group_people(np.concatenate(vectors) if vectors else np.zeros((0, self._dimensions)),
                                       refs, threshold, places=places)
                self._grouped = ((self._stamp(), threshold), grouped)
            return self._grouped[1]

    def _boxes(self, album: str, photo: str) -> Optional[np.ndarray]:
        """A photo's face boxes (n, 4); a video's appearances' with their times (n, 7) (corrections.py)."""
        index = self._indexes.get(album)
        entry = index.entries.get(photo) if index is not None else None
        if entry is None:
            return None
        return np.hstack([entry.boxes, entry.times]) if entry.times is not None else entry.boxes

    def box_of(self, face: FaceRef) -> Optional[list[int]]:
        index = self._indexes.get(face.album)
        entry = index.entries.get(face.photo) if index is not None else None
        return entry.pixel_box(face.face) if entry is not None and face.face < entry.faces else None

    def face_json(self, face: FaceRef) -> dict:
        """A face as the API lists it: in a photo, its box; in a video, also when it was seen best (at),
        and when it came and left."""
        index = self._indexes.get(face.album)
        entry = index.entries.get(face.photo) if index is not None else None
        found: dict = {"album": face.album, "photo": face.photo, "face": face.face, "box": None}
        if entry is None or face.face >= entry.faces:
            return found
        found["box"] = entry.pixel_box(face.face)
        if entry.times is not None:
            start, end, at = (round(float(v), 2) for v in entry.times[face.face])
            found.update(video=True, at=at, start=start, end=end)
        return found

    def video_path(self, album: str, video: str, at: float) -> Optional[Path]:
        """The file of a video the album's index holds (as photo_path does for photos), when a face was in
        view in it at `at` seconds: its frames are shown where its faces are, not anywhere (seeking far
        into a long video costs a decode of all the footage from the keyframe before)."""
        folder, index = self.albums.get(album), self._indexes.get(album)
        entry = index.entries.get(video) if index is not None else None
        if folder is None or entry is None or entry.times is None:
            return None
        if not any(start - SHOWN_AROUND <= at <= end + SHOWN_AROUND for start, end, _ in entry.times):
            return None
        return resolve(folder, video)

    def photo_path(self, album: str, photo: str) -> Optional[Path]:
        """The file of a photo the album's index holds, by its path as the index names it; None when
        there is no such album or photo, or the path leaves the album. Any other file in the folder (a
        page, a drawing, a photo not indexed yet or no longer a photo) is not served."""
        folder, index = self.albums.get(album), self._indexes.get(album)
        entry = index.entries.get(photo) if index is not None else None
        if folder is None or entry is None or entry.is_video:
            return None
        return resolve(folder, photo)

    def _stamp(self) -> tuple:
        """What the indexes hold, in short: it moves when the indexer or another server changed them."""
        return (self._changes, *(index.version for index in self._indexes.values()))

    def _face_matrix(self) -> FaceMatrix:
        with self._lock:
            if self._matrix is None or self._built_at != self._stamp():
                self._built_at = self._stamp()
                self._matrix = FaceMatrix([(name, index.snapshot()) for name, index in self._indexes.items()],
                                          self._dimensions)
            return self._matrix

    def _index(self) -> None:
        def changed(progress: Progress) -> None:
            self._changes += 1

        try:
            # Each index goes with its kind of indexer (for_server builds them as a pair).
            albums = [(self.albums[name], index) for name, index in self._indexes.items()]
            progress = self._indexer.index(albums,  # type: ignore[arg-type]
                                           stop=self._stop, on_progress=changed)
            log.info("albums indexed: %d photos, %d faces; skipped %s", progress.photos, progress.faces,
                     dict(progress.skipped) or "none")
            if progress.state == "ready" and "unreadable-folder" not in progress.skipped:
                # Every album walked whole: marks of photos gone from it can go. An album that shows
                # no photo at all is more likely unmounted than emptied: its marks stay.
                walked = [name for name, index in self._indexes.items() if index.entries]
                self.corrections.keep_photos([(name, entry.path) for name in walked
                                              for entry in self._indexes[name].snapshot()], walked)
        except Exception:  # the server goes on; /album says indexing stopped
            log.exception("album indexing failed")
            self._indexer.failed()
