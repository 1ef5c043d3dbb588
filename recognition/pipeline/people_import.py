"""Importing people from a folder, or a zip, with one sub-folder per person (its name is the person's name).

A person already enrolled under that name gets the photos added; anyone else is enrolled from their
first usable photo, then gets the rest. Every photo goes through the checks of POST /faces/<hash>/photos
(quality; not someone else; like enough), and what is refused is reported with the reason, never a
stop. Photos are read as album photos are (HEIC too, turned upright), in memory only; a zip is read
in memory too: every photo in it is unpacked once, counted as it comes out (recognition.pipeline.unzip),
before anyone is imported, then again one at a time as it is read, so only one is ever held unpacked.
"""
from __future__ import annotations

import io
import logging
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from recognition.album.photos import MAX_PIXELS as ALBUM_PIXELS, PhotoSkipped, is_photo, read_photo
from recognition.matching.matcher import AlreadyEnrolled
from recognition.pipeline.more_photos import PhotoRefused, face_of, fits
from recognition.pipeline.unzip import Budget, ZipRefused, check_member, unpack

log = logging.getLogger(__name__)

MAX_SIDE = 1280  # photos are scaled to this before their face is sought
MAX_ZIP_PHOTOS = 200  # photos in one uploaded zip (more: python -m tools.people import)
MAX_ZIP_BYTES = 64 << 20  # unpacked, in all, counted as it is unpacked: a zip bomb is refused as it unpacks
MAX_PHOTO_BYTES = 20 << 20  # one photo, unpacked (a 100-megapixel JPEG is about that)
MAX_ZIP_ENTRIES = 2000  # files and folders listed in the zip, photos or not


@dataclass(frozen=True)
class ZippedPhoto:
    """A photo in an uploaded zip, unpacked (again, counted again) only when it is read."""

    data: memoryview  # the whole zip
    member: zipfile.ZipInfo

    def read(self) -> bytes:
        return unpack(self.data, self.member, Budget(MAX_PHOTO_BYTES), MAX_PHOTO_BYTES)


Photo = tuple[str, Union[Path, bytes, ZippedPhoto]]  # (how it is named in the report, the file or its bytes)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)  # names enrolled now
    updated: list[str] = field(default_factory=list)  # names already enrolled that got photos
    added: int = 0  # vectors added or enrolled
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (photo or folder, reason, detail)

    def reasons(self) -> Counter:
        return Counter(reason for _, reason, _ in self.skipped)


def person_folders(root: Path) -> list[tuple[str, list[Photo]]]:
    """(name, photos) of each sub-folder, photos found recursively, in name order."""
    return [(folder.name, [(str(p), p) for p in sorted(folder.rglob("*")) if p.is_file() and is_photo(p)])
            for folder in sorted(Path(root).iterdir()) if folder.is_dir() and not folder.name.startswith(".")]


class BadZip(ValueError):
    """The upload is not a zip of one folder of photos per person; the message says what is wrong."""


def zip_people(data: bytes) -> list[tuple[str, list[Photo]]]:
    """(name, photos) of a zip shaped like the folder: Name/photo.jpg (or Top/Name/photo.jpg)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # BadZipFile, multi-disk (NotImplementedError), undecodable names...
        raise BadZip(f"not a zip file we can read ({type(exc).__name__}: {exc})")
    if len(archive.infolist()) > MAX_ZIP_ENTRIES:
        raise BadZip(f"the zip lists more than {MAX_ZIP_ENTRIES} files")
    members = [m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename
               and not Path(m.filename).name.startswith(".") and is_photo(Path(m.filename))]
    parts = [Path(m.filename).parts for m in members]
    # One folder around all the people's folders ("People/Ada/a.jpg"), as zipping a folder makes, is
    # dropped. (So a zip of one person's own dated sub-folders, "Ada/2019/a.jpg" only, reads as people
    # named 2019: put the person's folder in a zip of its own parent, or use python -m tools.people.)
    if parts and len({p[0] for p in parts}) == 1 and all(len(p) >= 3 for p in parts):
        parts = [p[1:] for p in parts]
    if any(len(p) < 2 for p in parts):
        raise BadZip("photos must be in a folder named after their person (Name/photo.jpg)")
    if len(members) > MAX_ZIP_PHOTOS:
        raise BadZip(f"the zip has {len(members)} photos; at most {MAX_ZIP_PHOTOS} per upload "
                     "(python -m tools.people import takes any number)")
    # What the zip declares is checked first (a quick refusal), then every photo is unpacked without
    # being kept, its bytes counted as they come out: the declared sizes are never trusted.
    if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise BadZip(f"the zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
    view, budget = memoryview(data), Budget(MAX_ZIP_BYTES)
    try:
        for member in members:
            check_member(member, MAX_PHOTO_BYTES)
        for member in members:
            unpack(view, member, budget, MAX_ZIP_BYTES)
    except ZipRefused as exc:
        raise BadZip(str(exc))
    people: dict[str, list[Photo]] = {}
    for member, path in sorted(zip(members, parts), key=lambda pair: pair[1]):
        people.setdefault(path[0], []).append((member.filename, ZippedPhoto(view, member)))
    return sorted(people.items())


def import_people(people: list[tuple[str, list[Photo]]], analyzer, *,
                  on_photo: Optional[Callable[[str], object]] = None, max_pixels: int = ALBUM_PIXELS) -> ImportReport:
    """max_pixels: the largest photo read (a larger JPEG is read at a fraction; a larger PNG, WebP or
    HEIC is skipped as too-large, from its header). An upload (POST /people/import) passes a
    request's bound, recognition.images.MAX_PIXELS; python -m tools.people, run by the operator on
    their own folder, keeps the album's 50 MP, as album indexing does."""
    store, matcher, report = analyzer.matcher.store, analyzer.matcher, ImportReport()
    for name, photos in people:
        if not photos:
            report.skipped.append((name, "no-photos", "the folder has no photo"))
            continue
        # By the summaries: no one's vectors are copied to find a name.
        namesakes = [store.get(s["hash"]) for s in store.summaries()
                     if s["name"] == name and s["model"] == matcher.model_name]
        if len(namesakes) > 1:
            report.skipped.append((name, "ambiguous-name", f"{len(namesakes)} people are named {name}"))
            for label, _ in photos:
                on_photo and on_photo(label)
            continue
        faces = _faces(photos, analyzer, report, on_photo, max_pixels)
        identity = namesakes[0] if namesakes else _enroll(name, faces, matcher, report)
        if identity is None:
            continue
        vectors = []
        for photo, vector in faces:
            try:
                fits(matcher, identity, vector)
                vectors.append(vector)
                identity = replace(identity, embeddings=identity.embeddings + (vector,))  # a copy in the folder: once
            except PhotoRefused as exc:
                report.skipped.append((photo, exc.kind, str(exc)))
        if vectors:
            store.add_vectors(identity.hash, np.stack(vectors))
            report.added += len(vectors)
            if name not in report.created:
                report.updated.append(name)
    for path, reason, detail in report.skipped:
        log.info("skipped %s (%s): %s", path, reason, detail)
    return report


def _faces(photos: list[Photo], analyzer, report: ImportReport, on_photo,
           max_pixels: int) -> list[tuple[str, np.ndarray]]:
    """(photo, vector) of each usable photo; the others reported."""
    faces = []
    for label, source in photos:
        try:
            if isinstance(source, ZippedPhoto):
                source = source.read()
            readable = source if isinstance(source, Path) else io.BytesIO(source)
            photo = read_photo(readable, max_side=MAX_SIDE, max_pixels=max_pixels)
            faces.append((label, face_of(analyzer, photo.image)[0]))
        except PhotoSkipped as exc:
            report.skipped.append((label, exc.reason, str(exc)))
        except ZipRefused as exc:  # unpacked once already, so never expected: reported, not a stop
            report.skipped.append((label, "unreadable", str(exc)))
        except PhotoRefused as exc:
            report.skipped.append((label, exc.kind, str(exc)))
        if on_photo:
            on_photo(label)
    return faces


def _enroll(name: str, faces: list[tuple[str, np.ndarray]], matcher, report: ImportReport):
    """A new person, enrolled from the face most like the folder's others (so one stray photo in a
    folder does not become the person), or None when every face is someone already enrolled. The
    faces used or reported here leave the list."""
    if not faces:
        return None
    vectors = np.stack([vector for _, vector in faces])
    done, identity = set(), None
    for index in np.argsort(-(vectors @ vectors.T).sum(axis=1), kind="stable"):
        photo, vector = faces[index]
        done.add(int(index))
        try:
            identity = matcher.enroll(vector, name)
        except AlreadyEnrolled as exc:
            who = exc.match.name or exc.match.identity_hash[:12]
            report.skipped.append((photo, "someone-else", f"the face is already enrolled as {who}"))
            continue
        report.created.append(name)
        report.added += 1
        break
    faces[:] = [face for number, face in enumerate(faces) if number not in done]
    return identity
