"""Finding an album's photos, and resolving a photo's path inside its album, without ever leaving it.

An album is a folder the server was told it may read (--album). Its photos are walked recursively;
symbolic links are followed only where they lead to somewhere inside the album (a link out of it, or a
loop, is skipped and counted), and a path asked for by a client is resolved the same way, so nothing
outside the album is ever read or served.

Only photos and videos are walked (by their extension; the indexer then decodes each and leaves out
what is not one), and what a photo is when served is read from its first bytes, never from its name: a page or a
drawing in an album, whatever it is called, is never a photo.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from recognition.album.photos import is_photo
from recognition.album.videos import is_video

log = logging.getLogger(__name__)


@dataclass
class WalkReport:
    """What the walk passed over, by reason: links out of the album, loops, unreadable folders."""

    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, path: Path, detail: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        log.info("album: skipped %s (%s%s)", path, reason, f": {detail}" if detail else "")


@dataclass(frozen=True)
class FileState:
    """What tells a changed photo from an unchanged one at a glance (a content hash confirms)."""

    size: int
    mtime_ns: int


def walk(root: Path, report: Optional[WalkReport] = None) -> Iterator[tuple[str, FileState]]:
    """(path relative to root, state) of every photo under root, in a stable order."""
    report = report if report is not None else WalkReport()
    top = Path(os.path.realpath(root))
    seen_folders: set[tuple[int, int]] = set()

    def visit(folder: Path, relative: str) -> Iterator[tuple[str, FileState]]:
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen_folders:
                report.skip("loop", folder)
                return
            seen_folders.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            report.skip("unreadable-folder", folder, exc.strerror or str(exc))
            return
        for entry in entries:
            name = f"{relative}{entry.name}"
            path = Path(entry.path)
            try:
                if entry.is_symlink() and not _inside(top, Path(os.path.realpath(path))):
                    report.skip("outside", path)
                    continue
                if entry.is_dir():
                    yield from visit(path, f"{name}/")
                elif entry.is_file() and (is_photo(path) or is_video(path)):
                    stat = entry.stat()
                    yield name, FileState(stat.st_size, stat.st_mtime_ns)
            except OSError as exc:  # vanished or not allowed while we looked
                report.skip("unreadable-file", path, exc.strerror or str(exc))

    yield from visit(top, "")


def resolve(root: Path, relative: str) -> Optional[Path]:
    """The file a client names by its path relative to the album, or None when that path is absolute,
    climbs out (..), or leads out of the album through a link; never raises for a bad name."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")) or Path(relative).is_absolute():
        return None
    if any(part == ".." for part in Path(relative).parts):
        return None
    top = Path(os.path.realpath(root))
    target = Path(os.path.realpath(top / relative))
    if not _inside(top, target) or not target.is_file():
        return None
    return target


HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic", b"hevx": "image/heic",
               b"heim": "image/heic", b"heis": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif"}
BMP_HEADERS = {12, 40, 52, 56, 64, 108, 124}  # the sizes of the DIB headers a BMP can have


def photo_type(path: Path) -> Optional[str]:
    """The media type of the photo at path by its signature (JPEG, PNG, WebP, BMP, HEIC/HEIF: what the
    indexer decodes), or None for any other file, whatever its name says. Never raises."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError:
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in BMP_HEADERS:
        return "image/bmp"
    if head[4:8] == b"ftyp":
        return HEIF_BRANDS.get(head[8:12])
    return None


def _inside(top: Path, target: Path) -> bool:
    return target == top or top in target.parents
