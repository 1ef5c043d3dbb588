"""Importing people from a folder with one sub-folder per person (its name is the person's name).

A person already enrolled under that name gets the photos added; anyone else is enrolled from their
first usable photo, then gets the rest. Every photo goes through the checks of POST /faces/<hash>/photos
(quality; not someone else; like enough), and what is refused is reported with the reason, never a
stop. Photos are read as album photos are (HEIC too, turned upright), in memory only.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from recognition.album.photos import PhotoSkipped, is_photo, read_photo
from recognition.matching.matcher import AlreadyEnrolled
from recognition.pipeline.more_photos import PhotoRefused, face_of, fits

log = logging.getLogger(__name__)

MAX_SIDE = 1280  # photos are scaled to this before their face is sought


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)  # names enrolled now
    updated: list[str] = field(default_factory=list)  # names already enrolled that got photos
    added: int = 0  # vectors added or enrolled
    skipped: list[tuple[Path, str, str]] = field(default_factory=list)  # (photo or folder, reason, detail)

    def reasons(self) -> Counter:
        return Counter(reason for _, reason, _ in self.skipped)


def person_folders(root: Path) -> list[tuple[str, list[Path]]]:
    """(name, photos) of each sub-folder, photos found recursively, in name order."""
    return [(folder.name, sorted(p for p in folder.rglob("*") if p.is_file() and is_photo(p)))
            for folder in sorted(Path(root).iterdir()) if folder.is_dir() and not folder.name.startswith(".")]


def import_people(root: Path, analyzer, *, on_photo: Optional[Callable[[Path], None]] = None) -> ImportReport:
    store, matcher, report = analyzer.matcher.store, analyzer.matcher, ImportReport()
    for name, photos in person_folders(root):
        if not photos:
            report.skipped.append((Path(root) / name, "no-photos", "the folder has no photo"))
            continue
        namesakes = [i for i in store.identities() if i.name == name and i.model == matcher.model_name]
        if len(namesakes) > 1:
            report.skipped.append((Path(root) / name, "ambiguous-name", f"{len(namesakes)} people are named {name}"))
            for photo in photos:
                on_photo and on_photo(photo)
            continue
        faces = _faces(photos, analyzer, report, on_photo)
        identity = namesakes[0] if namesakes else _enroll(name, faces, matcher, report)
        if identity is None:
            continue
        vectors = []
        for photo, vector in faces:
            try:
                fits(matcher, identity, vector)
                vectors.append(vector)
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


def _faces(photos: list[Path], analyzer, report: ImportReport, on_photo) -> list[tuple[Path, np.ndarray]]:
    """(photo, vector) of each usable photo; the others reported."""
    faces = []
    for photo in photos:
        try:
            faces.append((photo, face_of(analyzer, read_photo(photo, max_side=MAX_SIDE).image)[0]))
        except PhotoSkipped as exc:
            report.skipped.append((photo, exc.reason, str(exc)))
        except PhotoRefused as exc:
            report.skipped.append((photo, exc.kind, str(exc)))
        if on_photo:
            on_photo(photo)
    return faces


def _enroll(name: str, faces: list[tuple[Path, np.ndarray]], matcher, report: ImportReport):
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
