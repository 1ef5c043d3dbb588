"""Decompression bombs, made here and small on the wire: zips, images and videos that unpack to far
more than they weigh, or whose headers lie about what they hold. Built with the standard library,
OpenCV and Pillow; nothing is downloaded."""
from __future__ import annotations

import bz2
import functools
import lzma
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

MiB = 1 << 20


# --- zips -----------------------------------------------------------------------------------------

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14


def zip_archive(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip of (name, method, packed bytes, crc, declared unpacked size) written by hand, so that the
    declared sizes can lie."""
    body, directory = bytearray(), bytearray()
    for name, method, packed, crc, declared in members:
        encoded = name.encode()
        version = 63 if method == LZMA else 46 if method == BZIP2 else 20
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0x21, crc, len(packed), declared,
                            len(encoded), 0) + encoded + packed
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, method, 0, 0x21, crc,
                                 len(packed), declared, len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


@functools.lru_cache(maxsize=None)
def _zeros_packed(method: int, size: int) -> tuple[bytes, int]:
    """size zero bytes packed with method, and their CRC-32; made in 1 MiB steps (never all at once)."""
    chunk = bytes(MiB)
    if method == BZIP2:
        packer = bz2.BZ2Compressor(9)
    elif method == LZMA:
        packer = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "preset": 0}])
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed, crc = bytearray(), 0
    for _ in range(size // MiB):
        packed += packer.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    packed += packer.flush()
    if method == LZMA:  # zip's LZMA: version 9.20, the properties' length, the properties, the raw stream
        properties = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 0})
        packed = bytearray(struct.pack("<BBH", 9, 20, len(properties)) + properties) + packed
    return bytes(packed), crc


def lying_zip(method: int, *, unpacked: int = 300 * MiB, declared: int = 1000, members: int = 1) -> bytes:
    """A zip of members "Ada/<n>.jpg", each unpacked bytes of zeros that it declares to be declared bytes."""
    packed, crc = _zeros_packed(method, unpacked)
    return zip_archive([(f"Ada/{n}.jpg", method, packed, crc, declared) for n in range(members)])


# --- images ---------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A valid PNG of width x height black pixels, deflated row by row (never held whole)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = bytes(1 + width * channels * bit_depth // 8)  # filter type 0, then the zero samples
    packer, idat = zlib.compressobj(9), bytearray()
    for _ in range(height):
        idat += packer.compress(row)
    idat += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", bytes(idat)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def encoded(suffix: str, image: np.ndarray, params: tuple = ()) -> bytes:
    ok, data = cv2.imencode(suffix, image, list(params))
    assert ok, suffix
    return data.tobytes()


def webp_bomb(side: int = 8000) -> bytes:
    """A lossless WebP of side x side black pixels: a few kB."""
    return encoded(".webp", np.zeros((side, side, 3), np.uint8), (cv2.IMWRITE_WEBP_QUALITY, 101))


def progressive_jpeg_bomb(side: int = 8000) -> bytes:
    """A progressive JPEG: libjpeg keeps every coefficient of it in memory whatever the scale it decodes at."""
    return encoded(".jpg", np.zeros((side, side), np.uint8), (cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                                               cv2.IMWRITE_JPEG_QUALITY, 10))


def jpeg_declaring(width: int, height: int, photo: bytes) -> bytes:
    """photo (a baseline JPEG) with its frame header patched to declare width x height."""
    data = bytearray(photo)
    at = 2
    while at < len(data):
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[at + 5:at + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        at += 2 + length
    raise ValueError("no frame header")


def other_codec_bombs(side: int = 6000) -> dict[str, bytes]:
    """TIFF, JPEG 2000 and Radiance HDR images of black pixels: formats OpenCV reads and we do not take."""
    grey = np.zeros((side, side), np.uint8)
    return {"tiff": encoded(".tiff", grey), "jp2": encoded(".jp2", np.zeros((side // 2, side // 2), np.uint8)),
            "hdr": encoded(".hdr", np.zeros((side // 2, side // 2, 3), np.float32))}


# --- videos ---------------------------------------------------------------------------------------


def video_of_huge_frames(folder: Path, *, width: int = 7680, height: int = 4320, frames: int = 3,
                         suffix: str = ".avi", fourcc: str = "MJPG") -> bytes:
    """A short video of black frames of width x height (8K by default: four times the limit)."""
    path = folder / f"huge{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (width, height))
    assert writer.isOpened(), (suffix, fourcc)
    frame = np.zeros((height, width, 3), np.uint8)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def video_declaring(data: bytes, width: int, height: int) -> bytes:
    """An AVI or MP4 written by OpenCV with its container's frame size patched to width x height (the
    frames themselves untouched): a container that lies."""
    patched = bytearray(data)
    if data[:4] == b"RIFF":
        at = data.index(b"avih") + 8
        patched[at + 32:at + 40] = struct.pack("<II", width, height)
        at = data.index(b"strf") + 8
        patched[at + 4:at + 12] = struct.pack("<ii", width, height)
        return bytes(patched)
    at = data.index(b"tkhd") + 4
    offset = 88 if data[at] == 1 else 76
    patched[at + offset:at + offset + 8] = struct.pack(">II", width << 16, height << 16)
    at = data.index(b"stsd") + 4 + 8 + 8  # the first sample entry's body
    patched[at + 24:at + 28] = struct.pack(">HH", width, height)
    return bytes(patched)


# --- request bodies ---------------------------------------------------------------------------------


def form_bomb(size: int = 15 * MiB) -> bytes:
    """An url-encoded body of empty fields, a=&a=&...: Werkzeug parses it whole, at 50 times its size."""
    return b"a=&" * (size // 3)


def json_bomb(size: int = 15 * MiB) -> bytes:
    """A JSON list of empty lists, [[],[],...]: each 3 bytes becomes a list object of 56 bytes and more."""
    count = max(1, size // 3)
    return b"[" + b"[]," * (count - 1) + b"[]]"
