"""The people corrections file's contents: what PeopleCorrections keeps, as plain rows for pickling (read
back with the restricted unpickler, then checked field by field).

Version 2 added a person's hidden flag (a fourth field of a label); version 3 the time of a mark on a
face in a video (a seventh field of a mark, None for a photo's). Older files are read as having no one
hidden and no video marked, and are written at the latest version at their next change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

VERSION = 3
READABLE = (1, 2, 3)

Box = tuple[float, float, float, float]  # x, y, w, h as fractions of the photo's width and height


@dataclass(frozen=True)
class Mark:
    folder: str  # the album folder's real path
    photo: str
    box: Box
    at: Optional[float] = None  # in a video: when the appearance was seen best (seconds); None in a photo


@dataclass(frozen=True)
class Label:
    name: Optional[str] = None
    identity: Optional[str] = None  # the hash of an enrolled identity this person is
    hidden: bool = False  # left out of the people list and of album searches until shown again


@dataclass
class CorrectionsState:
    labels: dict[str, Label]
    assigned: dict[Mark, str]  # face -> the person it is
    taken_out: set[tuple[Mark, str]]  # (face, a person it is not)


def to_rows(state: CorrectionsState) -> dict:
    return {"version": VERSION,
            "labels": [(pid, label.name, label.identity, label.hidden) for pid, label in state.labels.items()],
            "assigned": [_row(mark) + (pid,) for mark, pid in state.assigned.items()],
            "taken_out": [_row(mark) + (pid,) for mark, pid in state.taken_out]}


def from_rows(rows: dict) -> CorrectionsState:
    version = rows.get("version")
    if version not in READABLE:
        raise ValueError(f"not a people corrections file of version {' or '.join(map(str, READABLE))}")
    return CorrectionsState(
        labels={str(row[0]): _label(row, version) for row in rows["labels"]},
        assigned={_mark(row[:-1], version): str(row[-1]) for row in rows["assigned"]},
        taken_out={(_mark(row[:-1], version), str(row[-1])) for row in rows["taken_out"]})


def _label(row: Sequence, version: int) -> Label:
    if version == 1:
        _, name, identity = row
        return Label(_text(name), _text(identity))
    _, name, identity, hidden = row
    if not isinstance(hidden, bool):
        raise ValueError("a person's hidden flag is not true or false")
    return Label(_text(name), _text(identity), hidden)


def _row(mark: Mark) -> tuple:
    return (mark.folder, mark.photo) + tuple(float(v) for v in mark.box) + (mark.at,)


def _mark(row: Sequence, version: int) -> Mark:
    if version < 3:
        row = (*row, None)
    if len(row) != 7:
        raise ValueError("a face mark is not (folder, photo, x, y, w, h, at)")
    folder, photo, *box, at = row
    if not isinstance(folder, str) or not isinstance(photo, str) or not (at is None or isinstance(at, float)):
        raise ValueError("a face mark is not (folder, photo, x, y, w, h, at)")
    x, y, w, h = (float(v) for v in box)
    return Mark(folder, photo, (x, y, w, h), at)


def _text(value) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise ValueError("a name or identity is not text")
    return value
