"""Segment files: a chain of sealed records, appended with one fsync, rewritten whole when they change.

A segment is `<number>.seg` in the store's folder:

    header  = SEGMENT_MAGIC | number (u64, big-endian)
    record  = length (u32) | body (length bytes: a sealed pickle, see records.py) | link (32 bytes)
    link_i  = HMAC-SHA256(installation secret, link_{i-1} | length | body), link_{-1} = HMAC(secret, header)

The links chain every record to the one before it and to the segment's number, so a record cannot be
altered, dropped from the middle, reordered or moved to another segment without the next check
failing. Only a torn tail is forgiven here: bytes after the last whole record that a crash left half
written (never acknowledged, since a write is acknowledged only after its fsync). Whether the last
whole record is the last one acknowledged (not a tail cut off, nor an older copy of the file) is the
anchor's to say (anchor.py): it holds each segment's last link, outside the data dir.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from recognition.store.atomic import fsync_folder, write_atomically

log = logging.getLogger(__name__)

SEGMENT_MAGIC = b"FACESEG\x03"
HEADER = struct.Struct(">8sQ")
LENGTH = struct.Struct(">I")
LINK_BYTES = 32
SUFFIX = ".seg"
MAX_RECORD_BYTES = 1 << 30


class SegmentDamaged(Exception):
    """The segment is not one we wrote, or was altered; the message names the file and the reason."""


def segment_path(folder: Path, number: int) -> Path:
    return Path(folder) / f"{number:08d}{SUFFIX}"


def segment_numbers(folder: Path) -> list[int]:
    """The numbers of the segments in folder, in order; a file that is not named like one is refused."""
    numbers = []
    for path in Path(folder).iterdir():
        if path.name.startswith("."):
            continue  # temporaries, cleared by the writer on open
        stem, dot, suffix = path.name.partition(".")
        if "." + suffix != SUFFIX or not stem.isdigit():
            raise SegmentDamaged(f"{path} does not belong in the store folder; move it away")
        numbers.append(int(stem))
    return sorted(numbers)


def _link(secret: bytes, previous: bytes, length: bytes, body: bytes) -> bytes:
    return hmac.new(secret, previous + length + body, hashlib.sha256).digest()


def _first_link(secret: bytes, header: bytes) -> bytes:
    return hmac.new(secret, header, hashlib.sha256).digest()


def encode(number: int, bodies: Iterable[bytes], secret: bytes) -> tuple[bytes, bytes]:
    """(the bytes of a whole segment, the link of its last record)."""
    header = HEADER.pack(SEGMENT_MAGIC, number)
    parts, link = [header], _first_link(secret, header)
    for body in bodies:
        length = LENGTH.pack(len(body))
        link = _link(secret, link, length, body)
        parts += [length, body, link]
    return b"".join(parts), link


@dataclass
class SegmentContent:
    number: int
    bodies: list[bytes]
    whole_length: int  # bytes up to the end of the last whole record
    last_link: bytes
    torn_bytes: int  # bytes after it that a crash left half written
    links: list[bytes]  # the header's link, then the link after each record (the anchor names one of them)


def decode(data: bytes, number: int, secret: bytes, what: str, *, last: bool = True) -> SegmentContent:
    """The record bodies of a segment; a torn tail is forgiven only in the last segment (the one appended to)."""
    if len(data) < HEADER.size:
        raise SegmentDamaged(f"{what} is too short to be a segment")
    magic, found = HEADER.unpack_from(data)
    if magic != SEGMENT_MAGIC:
        raise SegmentDamaged(f"{what} is not a faceapp store segment (unknown header)")
    if found != number:
        raise SegmentDamaged(f"{what} says it is segment {found}, not {number} (renamed or swapped)")
    link = _first_link(secret, data[: HEADER.size])
    bodies: list[bytes] = []
    offset, links = HEADER.size, [link]
    while offset < len(data):
        end_of_length = offset + LENGTH.size
        length = LENGTH.unpack_from(data, offset)[0] if end_of_length <= len(data) else None
        end = end_of_length + (length or 0) + LINK_BYTES
        if length is None or end > len(data):
            if last and _torn(data[offset:]):
                return SegmentContent(number, bodies, offset, link, len(data) - offset, links)
            raise SegmentDamaged(f"{what} ends in a record that was cut short")
        length_bytes, body = data[offset:end_of_length], data[end_of_length : end - LINK_BYTES]
        expected = _link(secret, link, length_bytes, body)
        if not hmac.compare_digest(expected, data[end - LINK_BYTES : end]):
            # In the segment appended to, what a power cut leaves of an append (never acknowledged):
            # zeros from here on, or a final record whose last bytes, its link, never reached the disk
            # (a real link is never all zeros). A whole record that is simply wrong is tampering.
            zeros_from_here = not data[offset + LENGTH.size :].strip(b"\0")
            unwritten_end = end == len(data) and not data[end - LINK_BYTES : end].strip(b"\0")
            if last and (zeros_from_here or unwritten_end):
                return SegmentContent(number, bodies, offset, link, len(data) - offset, links)
            raise SegmentDamaged(f"{what} failed its signature check at byte {offset} (altered, reordered, "
                                 f"or from another installation)")
        bodies.append(body)
        link, offset = expected, end
        links.append(link)
    return SegmentContent(number, bodies, offset, link, 0, links)


def _torn(tail: bytes) -> bool:
    """Whether the bytes after the last good record are what an interrupted append leaves: a record cut
    short (its length runs past the end of the file), or zeros where a power cut lost the data."""
    if len(tail) < LENGTH.size or not tail[LENGTH.size :].strip(b"\0"):
        return True
    length = LENGTH.unpack_from(tail)[0]
    return length <= MAX_RECORD_BYTES and LENGTH.size + length + LINK_BYTES > len(tail)


def read(folder: Path, number: int, secret: bytes, *, last: bool = True) -> SegmentContent:
    path = segment_path(folder, number)
    return decode(path.read_bytes(), number, secret, str(path), last=last)


def write(folder: Path, number: int, bodies: Iterable[bytes], secret: bytes) -> bytes:
    """Replace a segment whole (temporary file, fsync, rename, fsync of the folder); returns its last link."""
    data, link = encode(number, bodies, secret)
    write_atomically(segment_path(folder, number), data, sync_folder=False)
    try:  # the new file is in place from here: what is in memory must follow it even if this fails
        fsync_folder(Path(folder))
    except OSError as exc:
        log.error("could not fsync %s after replacing segment %d (%s); the change may not survive a power cut",
                  folder, number, exc)
    return link


class Appender:
    """Appends records to one segment; each append returns only once it is on disk."""

    def __init__(self, folder: Path, number: int, secret: bytes, *, length: int, last_link: bytes) -> None:
        self.number = number
        self.path = segment_path(folder, number)
        self._secret = secret
        self._link = last_link
        self._length = length
        self.broken = False  # an append failed midway: the segment must be rewritten before the next one
        # An append and a close (a server stopping while its indexer still writes) take turns: an fd
        # number closed under a write may already be another file's, which the write would then hit.
        self._lock = threading.Lock()
        self._handle: Optional[int] = os.open(self.path, os.O_WRONLY)  # None once closed
        if os.fstat(self._handle).st_size != length:  # a torn tail from a crash: cut it off first
            os.ftruncate(self._handle, length)
            os.fsync(self._handle)

    @classmethod
    def create(cls, folder: Path, number: int, secret: bytes) -> "Appender":
        link = write(folder, number, [], secret)
        return cls(folder, number, secret, length=HEADER.size, last_link=link)

    def append(self, body: bytes) -> None:
        if len(body) > MAX_RECORD_BYTES:
            raise ValueError("record too large")
        with self._lock:
            handle = self._handle
            if handle is None:
                raise ValueError(f"{self.path} was closed: nothing can be appended to it")
            length = LENGTH.pack(len(body))
            link = _link(self._secret, self._link, length, body)
            record = length + body + link
            try:
                written = os.pwrite(handle, record, self._length)
                if written != len(record):
                    raise OSError(f"short write to {self.path} ({written} of {len(record)} bytes)")
                os.fsync(handle)
            except BaseException:
                # Leave the file as it was, so the next record chains onto the last acknowledged one.
                try:
                    os.ftruncate(handle, self._length)
                except OSError:
                    self.broken = True
                raise
            self._link, self._length = link, self._length + len(record)

    @property
    def last_link(self) -> bytes:
        return self._link

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                os.close(self._handle)
                self._handle = None


def create_folder(folder: Path) -> None:
    Path(folder).mkdir(mode=0o700, exist_ok=True)
    fsync_folder(Path(folder).parent)

