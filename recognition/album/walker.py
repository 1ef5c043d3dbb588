"""Finding an album's photos, and resolving a photo's path inside its album, without ever leaving it.

An album is a folder the server was told it may read (--album). Its photos are walked recursively;
symbolic links are followed only where they lead to somewhere inside the album (a link out of it, or a
loop, is skipped and counted), and a path asked for by a client is resolved the same way, so nothing
outside the album is ever read or served.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from recognition.album.photos import is_photo

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
                elif entry.is_file() and is_photo(path):
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


def _inside(top: Path, target: Path) -> bool:
    return target == top or top in target.parents
