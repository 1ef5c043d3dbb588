"""Unpacking zip members in memory with every byte counted as it comes out, never trusting the sizes
the zip declares.

zipfile decompresses a BZIP2 or LZMA member in one call, however large (358 bytes unpacked to 300 MiB
before its CRC was found wrong), and asks zlib for up to 2 GB at once when a member is read whole. So
only stored and deflated members are taken (what every zip tool writes by default; the others are
refused before anything is unpacked), and a deflated member is inflated here, a chunk at a time: one
that unpacks to more than it declares is refused at the first byte too many.
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Union

CHUNK = 256 * 1024  # bytes inflated at a time: what one step can cost, whatever the zip claims
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
METHOD_NAMES = {zipfile.ZIP_BZIP2: "BZIP2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64", 93: "Zstandard", 98: "PPMd"}
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a member's local header, before its name and extra field


class ZipRefused(ValueError):
    """A member that cannot be unpacked safely, or at all; the message names it and says why."""


def check_member(member: zipfile.ZipInfo, max_bytes: int) -> None:
    """Refuse, before anything is unpacked, a member in a method we do not inflate, encrypted, or
    declaring more than max_bytes."""
    if member.compress_type not in METHODS:
        method = METHOD_NAMES.get(member.compress_type, f"method {member.compress_type}")
        raise ZipRefused(f"{member.filename} cannot be unpacked: it is compressed with {method}, and only stored "
                         "and deflated members are read (zip it again with your system's default settings)")
    if member.flag_bits & 0x1:
        raise ZipRefused(f"{member.filename} cannot be unpacked: it is encrypted")
    if member.file_size > max_bytes:
        raise ZipRefused(f"{member.filename} cannot be unpacked: it declares {member.file_size >> 20} MB, and a "
                         f"photo may be {max_bytes >> 20} MB at most")


@dataclass
class Budget:
    """Bytes the unpacking of one upload may still produce, in all members together."""

    left: int

    def spend(self, count: int, name: str, limit: int) -> None:
        self.left -= count
        if self.left < 0:
            raise ZipRefused(f"the zip unpacks to more than {limit >> 20} MB (at {name})")


def unpack(data: memoryview, member: zipfile.ZipInfo, budget: Budget, limit: int) -> bytes:
    """The member's bytes, inflated CHUNK at a time from data (the whole zip), each chunk counted
    against budget (limit is only named in its refusal). Refused as soon as it unpacks to more than it
    declares or than budget holds; also when truncated, or when its CRC-32 is wrong."""
    packed = _packed(data, member)
    name, declared = member.filename, member.file_size
    if member.compress_type == zipfile.ZIP_STORED:
        if len(packed) != declared:
            raise ZipRefused(f"{name} cannot be unpacked: it is stored as {len(packed)} bytes but declares {declared}")
        budget.spend(declared, name, limit)
        out = bytes(packed)
    else:
        inflater, inflated = zlib.decompressobj(-zlib.MAX_WBITS), bytearray()
        try:
            for start in range(0, len(packed), CHUNK):
                pending: Union[memoryview, bytes] = packed[start:start + CHUNK]
                while pending and not inflater.eof:
                    piece = inflater.decompress(pending, CHUNK)  # never more than CHUNK out of one call
                    pending = inflater.unconsumed_tail
                    inflated += piece
                    budget.spend(len(piece), name, limit)
                    if len(inflated) > declared:
                        raise ZipRefused(f"{name} cannot be unpacked: it unpacks to more than the {declared} "
                                         "bytes it declares")
                if inflater.eof:
                    break
        except zlib.error as exc:
            raise ZipRefused(f"{name} cannot be unpacked: it is damaged ({exc})")
        if not inflater.eof or len(inflated) != declared:
            raise ZipRefused(f"{name} cannot be unpacked: it ends after {len(inflated)} of the {declared} bytes it "
                             "declares")
        out = bytes(inflated)
    if zlib.crc32(out) != member.CRC:
        raise ZipRefused(f"{name} cannot be unpacked: it is damaged (its CRC-32 is wrong)")
    return out


def _packed(data: memoryview, member: zipfile.ZipInfo) -> memoryview:
    """The member's packed bytes, located through its local header (a view: nothing is copied)."""
    at = member.header_offset
    header = bytes(data[at:at + LOCAL_HEADER.size])
    if len(header) < LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise ZipRefused(f"{member.filename} cannot be unpacked: its header is not where the zip's directory says")
    fields = LOCAL_HEADER.unpack(header)
    start = at + LOCAL_HEADER.size + fields[10] + fields[11]  # after the name and the extra field
    packed = data[start:start + member.compress_size]
    if len(packed) < member.compress_size:
        raise ZipRefused(f"{member.filename} cannot be unpacked: the zip is truncated")
    return packed
