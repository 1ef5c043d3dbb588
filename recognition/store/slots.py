"""A small sealed file updated in place with one fdatasync and never left torn: two slots, written in turn.

    file = FILE_MAGIC | slot capacity (u32) | slot 0 | slot 1      (each slot `capacity` bytes)
    slot = length (u32) | sealed blob (vault.seal of sequence (u64) | payload)

A write goes to the slot that holds the older sequence, so a crash in the middle of it tears only that
slot; the other still holds the previous write, whole. Reading takes the newest slot that opens. An
overwrite in place costs one fdatasync and no new inode (about half of a temporary file, its fsync
and a rename); the file is replaced whole, atomically, only when a payload outgrows its slots.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Optional

from recognition.store.atomic import write_atomically
from recognition.store.vault import StoreKey, WrongKey, seal, unseal

FILE_MAGIC = b"FACESLT\x01"
HEADER = struct.Struct(">8sI")
LENGTH = struct.Struct(">I")
SEQUENCE_BYTES = 8
LEAST_CAPACITY = 4096


def read(path: Path, keys: list[StoreKey], magic: bytes, what: str) -> Optional[tuple[int, bytes]]:
    """(sequence, payload) of the newest slot that opens; None if there is no file. WrongKey if a slot
    was sealed with none of keys and no other opens; ValueError if no slot is whole."""
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(data) < HEADER.size or not data.startswith(FILE_MAGIC):
        raise ValueError(f"{what} is not a faceapp anchor file")
    capacity = HEADER.unpack_from(data)[1]
    newest, wrong = None, None
    for slot in (0, 1):
        start = HEADER.size + slot * capacity
        if start + LENGTH.size > len(data):
            continue
        length = LENGTH.unpack_from(data, start)[0]
        if not 0 < length <= capacity - LENGTH.size or start + LENGTH.size + length > len(data):
            continue  # empty, or torn
        try:
            plain = unseal(keys, magic, data[start + LENGTH.size : start + LENGTH.size + length], what)
        except WrongKey as exc:  # e.g. the older slot, still under the key a rotation replaced
            wrong = exc
            continue
        except ValueError:
            continue  # torn by a crash in the middle of its write: the other slot holds the last whole one
        sequence = int.from_bytes(plain[:SEQUENCE_BYTES], "big")
        if newest is None or sequence > newest[0]:
            newest = (sequence, plain[SEQUENCE_BYTES:])
    if newest is not None:
        return newest
    if wrong is not None:
        raise wrong
    raise ValueError(f"{what} holds no whole slot (altered or damaged)")


def write(path: Path, key: StoreKey, magic: bytes, payload: bytes, sequence: int) -> None:
    """Write payload as sequence (one more than the newest read) into the slot of the older one, and
    fdatasync it; OSError if it cannot be written."""
    blob = seal(key, magic, sequence.to_bytes(SEQUENCE_BYTES, "big") + payload)
    record = LENGTH.pack(len(blob)) + blob
    slot = sequence % 2
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        descriptor = None
    if descriptor is not None:
        try:
            header = os.pread(descriptor, HEADER.size, 0)
            if len(header) == HEADER.size and header.startswith(FILE_MAGIC):
                capacity = HEADER.unpack(header)[1]
                if len(record) <= capacity:
                    written = os.pwrite(descriptor, record, HEADER.size + slot * capacity)
                    if written != len(record):
                        raise OSError(f"short write to {path} ({written} of {len(record)} bytes)")
                    os.fdatasync(descriptor)
                    return
        finally:
            os.close(descriptor)
    # New, or outgrown: the whole file anew (synced before its rename), with room to grow in place.
    capacity = max(LEAST_CAPACITY, 2 * len(record))
    slots = [LENGTH.pack(0).ljust(capacity, b"\0")] * 2
    slots[slot] = record.ljust(capacity, b"\0")
    write_atomically(Path(path), HEADER.pack(FILE_MAGIC, capacity) + b"".join(slots), sync_folder=False)
