"""Reading one album photo safely: the formats phones and cameras write, turned upright by their EXIF
orientation, and refused with a reason (never a crash) when unreadable, truncated or too large.

Only the decoded pixels are handed on, in memory; nothing of a photo is ever written anywhere.
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import cv2
import numpy as np

from recognition.image_header import HeaderError, ImageHeader, read_header

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic", ".heif"})
# Pillow's decoders for these only (JPEG includes a phone's multi-picture MPO); its other plugins never see a file.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "HEIF")
# The decoded image at most: a 48-megapixel phone photo ("HEIF Max"; a HEIC cannot be decoded smaller
# than it is); a larger JPEG is decoded at a half, a quarter or an eighth of its size to fit. Reading
# at the 1280 px photos are searched at takes up to 8 bytes a decoded pixel at the peak (Pillow's 4,
# its decoder's buffers, the shrunk copy), a HEIC 5 (libheif's buffer, read in place), a WebP 16
# (Pillow's WebP decoder keeps canvases of its own): each format gets the pixels 8 bytes a pixel would
# take. Measured at 1280 px: a 12 MP HEIC +60 MB, a 48 MP JPEG +25 MB; before the header was read, a
# 12 MP HEIC took +216 MB and 100 MP were allowed. Query photos sent to the API are held to
# recognition.images.MAX_PIXELS by their callers.
MAX_PIXELS = 50_000_000
BYTES_PER_PIXEL = {"WEBP": 16, "HEIF": 5}  # the others: 8
# Pillow's own bomb check, behind the size read from the header: a 200-megapixel phone JPEG, the
# largest made, is still opened (and decoded at an eighth); a larger declared image is refused by Pillow too.
PILLOW_MAX_PIXELS = 256_000_000


class PhotoSkipped(Exception):
    """A photo that cannot be read. reason is one short word, counted in the album's "skipped"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Photo:
    image: np.ndarray  # BGR, upright (EXIF orientation applied), at most max_side on its longer side
    width: int  # of the upright original, in pixels: boxes are given in these
    height: int
    scale: float  # image pixels per original pixel (1.0 when it was not scaled down)


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS


def read_photo(path: Union[Path, BinaryIO], *, max_side: int = 1280, max_pixels: int = MAX_PIXELS) -> Photo:
    """The photo at path (or in a binary file object), upright, scaled down to max_side for face
    detection. max_pixels bounds the decoded image, and so the memory a read takes (up to 8 bytes a
    pixel; WebP, twice that, gets half as many): a larger JPEG is decoded at a fraction of its size, any
    other larger photo is refused as too-large from its header, before any of it is decoded. Raises
    PhotoSkipped."""
    from PIL import Image, UnidentifiedImageError

    _prepare_pillow()
    try:
        with open(path, "rb") if isinstance(path, (str, Path)) else nullcontext(path) as source:
            header = read_header(source)
            reduction = _reduction(header, max_side, max_pixels)
            if header.format == "HEIF":  # libheif turns it upright (irot, imir) as it decodes
                image, stored = _heif_bgr(source, max_side, header)
                width, height = stored
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(source, formats=FORMATS) as opened:
                        stored, orientation = opened.size, opened.getexif().get(0x0112, 1)  # before draft() shrinks it
                        if reduction > 1:  # JPEG: libjpeg decodes at a fraction of the size
                            opened.draft("RGB", (stored[0] // reduction, stored[1] // reduction))
                        _as_declared(opened.size, header, reduction)
                        image, decoded = _bgr_scaled(opened, orientation, max_side)
                width, height = _original_size(stored, orientation, decoded)
    except PhotoSkipped:
        raise
    except FileNotFoundError as exc:
        raise PhotoSkipped("vanished", str(exc)) from None
    except PermissionError as exc:
        raise PhotoSkipped("permission", str(exc)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoSkipped("too-large", str(exc)) from None
    except (HeaderError, UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, RuntimeError) as exc:
        # Truncated, corrupt, zero bytes or not an image at all: the header, Pillow (or libheif) says so.
        raise PhotoSkipped("unreadable", f"{type(exc).__name__}: {exc}") from None
    return Photo(image, width, height, image.shape[1] / width)


def _reduction(header: ImageHeader, max_side: int, max_pixels: int) -> int:
    """The fraction (1, 2, 4 or 8) of its sides a photo is decoded at: 1 but for a JPEG, which libjpeg
    decodes as small as still makes max_side (as Pillow's draft() would) and small enough to cost no
    more than max_pixels at 8 bytes a pixel. Raises PhotoSkipped (too-large), having decoded nothing."""
    cost = BYTES_PER_PIXEL.get(header.format, 8)
    reductions = (1, 2, 4, 8) if header.format == "JPEG" else (1,)
    fits = [r for r in reductions if -(-header.width // r) * -(-header.height // r) * cost <= max_pixels * 8]
    if not fits:
        most = max_pixels * 8 // cost / 1e6
        raise PhotoSkipped("too-large", f"{header.width}x{header.height} pixels: more than {most:.1f} megapixels"
                                        + (" even at an eighth of its size" if header.format == "JPEG" else ""))
    enough = max(r for r in reductions if r == 1 or r <= min(header.width, header.height) // max_side)
    return max(fits[0], enough)


STRIP = 64  # rows (of the shrunk picture) copied out of Pillow at a time
# EXIF orientation -> what turns the stored pixels upright (as PIL.ImageOps.exif_transpose does).
UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: np.rot90(a)}


def _bgr_scaled(opened, orientation: int, max_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The opened photo as BGR, upright, at most max_side, and the upright size it was decoded at.
    Beside Pillow's decoded picture, only the shrunk one is ever whole: the pixels are copied out a
    strip at a time, each shrunk (Image.reduce, by a whole factor) on the way, and turned upright after."""
    opened.load()
    width, height = opened.size
    factor = max(1, max(width, height) // max_side)
    shrunk = np.empty((-(-height // factor), -(-width // factor), 3), np.uint8)
    rows = STRIP * factor
    for top in range(0, height, rows):
        strip = opened.crop((0, top, width, min(height, top + rows)))
        if strip.mode != "RGB":
            strip = strip.convert("RGB")
        if factor > 1:
            strip = strip.reduce(factor)
        cv2.cvtColor(np.asarray(strip), cv2.COLOR_RGB2BGR, dst=shrunk[top // factor:top // factor + strip.height])
    opened.close()  # Pillow's pixels go now, not when the caller's references do
    if orientation in UPRIGHT:
        shrunk = np.ascontiguousarray(UPRIGHT[orientation](shrunk))
    decoded = (shrunk.shape[1] * factor, shrunk.shape[0] * factor)
    scale = min(1.0, max_side / max(shrunk.shape[:2]))
    if scale < 1.0:
        shrunk = cv2.resize(shrunk, (max(1, round(shrunk.shape[1] * scale)), max(1, round(shrunk.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA)
    return shrunk, decoded


def _heif_bgr(source, max_side: int, header: ImageHeader) -> tuple[np.ndarray, tuple[int, int]]:
    """A HEIC as BGR at most max_side, and its size. Straight from libheif's buffer (Pillow's plugin
    copies it again, 8 bytes a pixel at the peak; this, 5): a 12 MP phone photo +58 MB."""
    from pillow_heif import open_heif

    heif = open_heif(source, convert_hdr_to_8bit=True)  # the primary image; nothing decoded yet
    width, height = heif.size
    _as_declared(heif.size, header)
    rgb = np.asarray(heif)  # decoded now, upright; libheif's buffer, not a copy
    if heif.mode != "RGB":
        rgb = rgb[:, :, :3]  # RGBA: the alpha is of no use to a face
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:  # shrunk before the colour swap, which then copies the small picture only
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (width, height)


def _as_declared(size: tuple[int, int], header: ImageHeader, reduction: int = 1) -> None:
    """The decoder's own reading of the size, before it decodes: never more than the header's (the limit
    was checked on that), whichever way the picture is turned."""
    most = (-(-header.width // reduction), -(-header.height // reduction))
    if size[0] * size[1] > most[0] * most[1] or max(size) > max(most):
        raise PhotoSkipped("too-large", f"the decoder reads {size[0]}x{size[1]} pixels where the header "
                                        f"declares {most[0]}x{most[1]}")


def _original_size(stored: tuple[int, int], orientation: int, decoded: tuple[int, int]) -> tuple[int, int]:
    """The upright photo's full size: draft mode may have decoded a JPEG at a fraction of it."""
    width, height = stored
    if orientation in (5, 6, 7, 8):  # turned a quarter: width and height swap
        width, height = height, width
    # The decoded copy keeps the aspect; trust the header's size only when it agrees with it.
    if abs(width * decoded[1] - height * decoded[0]) > max(width, height):
        return decoded
    return width, height


_heif_registered = False


def _prepare_pillow() -> None:
    global _heif_registered
    if not _heif_registered:
        from PIL import Image
        from pillow_heif import register_heif_opener

        register_heif_opener()
        Image.init()  # every plugin registered, so that FORMATS can name WEBP
        Image.MAX_IMAGE_PIXELS = PILLOW_MAX_PIXELS  # its bomb check, the second guard (its default is 89 MP)
        _heif_registered = True
