"""An image's format and size, read from its header before any of it is decoded.

A few hundred bytes can declare a picture of billions of pixels, so what a decode will cost is read
here first, for every format we take: JPEG (its frame header, and whether its scans make the decoder
hold every coefficient), PNG (IHDR), WebP (VP8, VP8L, VP8X and animation frames), BMP and HEIC/HEIF
(the ISOBMFF `ispe` properties, the largest). Any other format is refused by name. Nothing is decoded
and nothing is trusted beyond the header: the decoders' own limits are the second guard.

Works on bytes or on a seekable binary file, reading only the header's few bytes of a file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Union

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "HEIF")
NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "HEIF": "HEIC"}
MAX_SIDE = 1 << 20  # no format we read makes sides this long; more is a lie, refused as corrupt

# Formats recognised only to name them in the refusal (what a client sent matters for the fix).
OTHERS = ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
          (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"#?RADIANCE", "Radiance HDR"), (b"#?RGBE", "Radiance HDR"),
          (b"GIF8", "GIF"), (b"v/1\x01", "OpenEXR"), (b"\x59\xa6\x6a\x95", "Sun raster"),
          (b"PF\n", "PFM"), (b"Pf\n", "PFM"), (b"8BPS", "Photoshop"), (b"\x00\x00\x01\x00", "ICO"))
PNM = (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"P7")
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


class HeaderError(ValueError):
    """The data is not an image we read, or its header is truncated or impossible; the message says which."""


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "JPEG", "PNG", "WEBP", "BMP" or "HEIF"
    width: int
    height: int
    channels: int = 3  # samples per pixel as stored: 1 grey, 2 grey and alpha, 3 colour, 4 colour and alpha
    bits: int = 8  # per sample
    held_blocks: int = 0  # JPEG: 8x8 blocks the decoder keeps whole (progressive or one scan per component)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def held_bytes(self) -> int:
        """What the decoder holds beside its output whatever the scale it decodes at: a progressive (or
        non-interleaved) JPEG's coefficients, 64 of 2 bytes per block."""
        return self.held_blocks * 128


Source = Union[bytes, bytearray, memoryview, BinaryIO]


class _Reader:
    """Reads at offsets of bytes or of a seekable file, a few bytes at a time."""

    def __init__(self, source: Source) -> None:
        self._source: Union[memoryview, BinaryIO]  # the bytes, or the file read from _start on
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._source, self._start = memoryview(source).cast("B"), 0
            self.size = len(self._source)
        else:
            self._source, self._start = source, source.tell()
            self.size = source.seek(0, 2) - self._start

    def at(self, offset: int, count: int) -> bytes:
        """count bytes at offset, or fewer at the end of the data."""
        if offset < 0 or offset >= self.size or count <= 0:
            return b""
        count = min(count, self.size - offset)
        if isinstance(self._source, memoryview):
            return bytes(self._source[offset:offset + count])
        self._source.seek(self._start + offset)
        return self._source.read(count)

    def exactly(self, offset: int, count: int, what: str) -> bytes:
        data = self.at(offset, count)
        if len(data) < count:
            raise HeaderError(f"the {what} is truncated")
        return data

    def restore(self) -> None:
        if not isinstance(self._source, memoryview):
            self._source.seek(self._start)


def accepted(formats=FORMATS) -> str:
    """The formats as a client reads them: "JPEG, PNG or WebP"."""
    names = [NAMES[name] for name in formats]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def read_header(source: Source, formats: tuple[str, ...] = FORMATS) -> ImageHeader:
    """The format and size that source declares, one of formats. Raises HeaderError: not one of them
    (the message names what it is when it knows, and what is accepted), or a header that is
    truncated, impossible or lying."""
    reader = _Reader(source)
    try:
        start = reader.at(0, 32)
        if not start:
            raise HeaderError("the image is empty")
        if start.startswith(b"\xff\xd8\xff"):
            header = _jpeg(reader)
        elif start.startswith(b"\x89PNG\r\n\x1a\n"):
            header = _png(reader)
        elif start[:4] == b"RIFF" and start[8:12] == b"WEBP":
            header = _webp(reader)
        elif start.startswith(b"BM"):
            header = _bmp(reader)
        elif start[4:8] == b"ftyp" and _is_heif(reader):
            header = _heif(reader)
        else:
            raise HeaderError(_not_accepted(start, formats))
    finally:
        reader.restore()
    if header.format not in formats:
        raise HeaderError(f"the data is {_a(NAMES[header.format])} image: send {accepted(formats)}")
    if not (0 < header.width <= MAX_SIDE and 0 < header.height <= MAX_SIDE):
        raise HeaderError(f"the {header.format} header declares an impossible size, {header.width}x{header.height}")
    return header


def _not_accepted(start: bytes, formats: tuple[str, ...]) -> str:
    name = next((name for magic, name in OTHERS if start.startswith(magic)), None)
    if name is None and start[:2] in PNM and start[2:3].isspace():
        name = "PNM"
    if name is None and start[4:8] == b"ftyp":
        name = "AVIF" if start[8:12] in (b"avif", b"avis") else None
        if name is None:
            brand = start[8:12].decode("latin-1")
            return f"the data is an ISO media file ('{brand}', a video?): send {accepted(formats)}"
    what = f"{_a(name)} image" if name else "not an image we recognise"
    return f"the data is {what}: send {accepted(formats)}"


def _a(name: str) -> str:
    return ("an " if name[0] in "AEIOU" else "a ") + name


# --- JPEG -----------------------------------------------------------------------------------------

SOF_READ = {0xC0: False, 0xC1: False, 0xC2: True}  # Huffman baseline, extended, progressive: what cameras write
SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # lossless, hierarchical, arithmetic
STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg(reader: _Reader) -> ImageHeader:
    at, frame = 2, None
    while True:
        if reader.exactly(at, 1, "JPEG header") != b"\xff":
            raise HeaderError("the JPEG header is corrupt (a marker was expected)")
        while reader.exactly(at + 1, 1, "JPEG header") == b"\xff":  # fill bytes
            at += 1
        marker = reader.exactly(at + 1, 1, "JPEG header")[0]
        at += 2
        if marker in STANDALONE:
            continue
        if marker in (0xD8, 0xD9):
            raise HeaderError("the JPEG ends (or starts again) before its frame header")
        (length,) = struct.unpack(">H", reader.exactly(at, 2, "JPEG header"))
        if length < 2:
            raise HeaderError("the JPEG header is corrupt (a segment shorter than its length field)")
        if marker in SOF_OTHER:
            raise HeaderError("the JPEG is lossless, hierarchical or arithmetic-coded, which we do not read: "
                              "send a baseline or progressive JPEG")
        if marker in SOF_READ:
            if frame is not None:
                raise HeaderError("the JPEG has two frame headers")
            frame = _jpeg_frame(reader.exactly(at + 2, length - 2, "JPEG frame header"), SOF_READ[marker])
        elif marker == 0xDA:  # the first scan: after it come coded data, and no more sizes
            if frame is None:
                raise HeaderError("the JPEG has no frame header before its image data")
            scanned = reader.exactly(at + 2, 1, "JPEG scan header")[0]
            width, height, components, progressive = frame
            interleaved = not progressive and scanned == len(components)
            # Progressive or one component per scan: libjpeg holds every block of the image until the
            # last scan, at whatever scale it is asked to decode.
            held = 0 if interleaved else _blocks(width, height, components)
            return ImageHeader("JPEG", width, height, channels=len(components), held_blocks=held)
        at += length


def _jpeg_frame(data: bytes, progressive: bool):
    precision, height, width, count = struct.unpack(">BHHB", data[:6])
    if precision != 8:
        raise HeaderError(f"the JPEG has {precision}-bit samples; we read 8-bit JPEGs")
    if height == 0:
        raise HeaderError("the JPEG declares its height later (a DNL marker), which we do not read")
    if count not in (1, 3, 4) or len(data) < 6 + 3 * count:
        raise HeaderError(f"the JPEG frame header is corrupt ({count} components)")
    components = [((data[7 + 3 * i] >> 4), data[7 + 3 * i] & 15) for i in range(count)]
    if any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in components):
        raise HeaderError("the JPEG frame header is corrupt (sampling factors)")
    return width, height, components, progressive


def _blocks(width: int, height: int, components: list[tuple[int, int]]) -> int:
    most_h, most_v = max(h for h, _ in components), max(v for _, v in components)
    return sum(-(-width * h // (8 * most_h)) * -(-height * v // (8 * most_v)) for h, v in components)


# --- PNG, WebP, BMP -------------------------------------------------------------------------------

PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # a palette expands to colour


def _png(reader: _Reader) -> ImageHeader:
    chunk = reader.exactly(8, 25, "PNG header")
    length, kind = struct.unpack(">I4s", chunk[:8])
    if kind != b"IHDR" or length != 13:
        raise HeaderError("the PNG does not start with its IHDR header")
    width, height, depth, colour = struct.unpack(">IIBB", chunk[8:18])
    if depth not in PNG_DEPTHS.get(colour, ()):
        raise HeaderError(f"the PNG header is corrupt (colour type {colour}, bit depth {depth})")
    return ImageHeader("PNG", width, height, channels=PNG_CHANNELS[colour], bits=depth)


def _webp(reader: _Reader) -> ImageHeader:
    """Every size the file declares, the largest taken: the VP8X canvas and each frame."""
    end = min(reader.size, 8 + struct.unpack("<I", reader.exactly(4, 4, "WebP header"))[0])
    at, width, height, alpha, found = 12, 0, 0, False, False
    while at + 8 <= end:
        kind, length = struct.unpack("<4sI", reader.exactly(at, 8, "WebP chunk"))
        body = at + 8
        size = None
        if kind == b"VP8X":
            flags, w, h = _webp_fields(reader.exactly(body, 10, "WebP VP8X header"), "<B3x3s3s")
            size, alpha = (w + 1, h + 1), alpha or bool(flags & 0x10)
        elif kind == b"VP8 ":
            data = reader.exactly(body, 10, "WebP VP8 header")
            if data[3:6] != b"\x9d\x01\x2a":
                raise HeaderError("the WebP VP8 header is corrupt")
            w, h = struct.unpack("<HH", data[6:10])
            size = (w & 0x3FFF, h & 0x3FFF)
        elif kind == b"VP8L":
            data = reader.exactly(body, 5, "WebP VP8L header")
            if data[0] != 0x2F:
                raise HeaderError("the WebP VP8L header is corrupt")
            bits = int.from_bytes(data[1:5], "little")
            size, alpha = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1), alpha or bool(bits >> 28 & 1)
        elif kind == b"ANMF":  # an animation frame: its own size, then its VP8/VP8L chunk
            _, w, h = _webp_fields(reader.exactly(body, 12, "WebP frame header"), "<6s3s3s")
            size = (w + 1, h + 1)
        elif kind == b"ALPH":
            alpha = True
        if size is not None:
            width, height, found = max(width, size[0]), max(height, size[1]), True
        # An animation frame's chunks are nested in it: step into it rather than over it.
        at = body + 16 if kind == b"ANMF" else body + length + (length & 1)
    if not found:
        raise HeaderError("the WebP has no image header")
    return ImageHeader("WEBP", width, height, channels=4 if alpha else 3)


def _webp_fields(data: bytes, layout: str):
    first, *sizes = struct.unpack(layout, data)
    return (first, *(int.from_bytes(size, "little") for size in sizes))


def _bmp(reader: _Reader) -> ImageHeader:
    (info,) = struct.unpack("<I", reader.exactly(14, 4, "BMP header"))
    if info == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        width, height, _, bits = struct.unpack("<HHHH", reader.exactly(18, 8, "BMP header"))
    elif info in (16, 40, 52, 56, 64, 108, 124):
        width, height, _, bits = struct.unpack("<iiHH", reader.exactly(18, 12, "BMP header"))
    else:
        raise HeaderError(f"the BMP header is corrupt (a {info}-byte info header)")
    if bits not in (1, 2, 4, 8, 16, 24, 32):
        raise HeaderError(f"the BMP header is corrupt ({bits} bits per pixel)")
    return ImageHeader("BMP", abs(width), abs(height), channels=4 if bits == 32 else 3)


# --- HEIC / HEIF (ISOBMFF) ------------------------------------------------------------------------

MAX_BOXES = 10_000  # boxes looked at in all: a file of countless empty boxes is not a photo


def _boxes(reader: _Reader, start: int, end: int, budget: list[int]):
    """(type, body offset, body end) of each box between start and end."""
    at = start
    while at + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            raise HeaderError("the HEIF file has too many boxes")
        size, kind = struct.unpack(">I4s", reader.exactly(at, 8, "HEIF box"))
        body = at + 8
        if size == 1:
            (size,) = struct.unpack(">Q", reader.exactly(at + 8, 8, "HEIF box"))
            body = at + 16
        elif size == 0:
            size = end - at
        if size < body - at or at + size > end:
            raise HeaderError(f"the HEIF box '{kind.decode('latin-1')}' overruns its container")
        yield kind, body, at + size
        at += size


def _is_heif(reader: _Reader) -> bool:
    (size,) = struct.unpack(">I", reader.exactly(0, 4, "HEIF header"))
    ftyp = reader.at(8, min(max(size, 16), 4096) - 8)
    if ftyp[:4] in (b"avif", b"avis"):  # AV1 in HEIF's boxes: not what the HEIC decoder reads
        return False
    brands = {ftyp[i:i + 4] for i in range(0, len(ftyp) - 3, 4) if i != 4}  # major, then compatible ones
    return bool(brands & HEIF_BRANDS)


def _heif(reader: _Reader) -> ImageHeader:
    budget, sizes = [MAX_BOXES], []
    for kind, body, end in _boxes(reader, 0, reader.size, budget):
        if kind != b"meta":
            continue
        for inner, inner_body, inner_end in _boxes(reader, body + 4, end, budget):  # meta is a full box
            if inner != b"iprp":
                continue
            for group, group_body, group_end in _boxes(reader, inner_body, inner_end, budget):
                if group != b"ipco":
                    continue
                for prop, prop_body, prop_end in _boxes(reader, group_body, group_end, budget):
                    if prop == b"ispe":
                        sizes.append(struct.unpack(">II", reader.exactly(prop_body + 4, 8, "HEIF ispe")))
    if not sizes:
        raise HeaderError("the HEIF file declares no image size (no ispe property)")
    # A grid's tiles are smaller than the grid; thumbnails smaller than the picture: the largest decides.
    width, height = max(sizes, key=lambda size: size[0] * size[1])
    return ImageHeader("HEIF", width, height)
