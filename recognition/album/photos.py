"""Reading one album photo safely: the formats phones and cameras write, turned upright by their EXIF
orientation, and refused with a reason (never a crash) when unreadable, truncated or too large.

Only the decoded pixels are handed on, in memory; nothing of a photo is ever written anywhere.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic", ".heif"})
# Pillow's decoders for these only (JPEG includes a phone's multi-picture MPO); its other plugins never see a file.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "HEIF")
MAX_PIXELS = 100_000_000  # a 100-megapixel photo; more is a decompression bomb, not a photo


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


def read_photo(path: Path, *, max_side: int = 1280, max_pixels: int = MAX_PIXELS) -> Photo:
    """The photo at path, upright, scaled down to max_side for face detection. Raises PhotoSkipped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as opened:
                if opened.width * opened.height > max_pixels:
                    raise PhotoSkipped("too-large", f"{opened.width}x{opened.height} pixels")
                stored, orientation = opened.size, opened.getexif().get(0x0112, 1)  # before draft() shrinks it
                opened.draft("RGB", (max_side, max_side))  # JPEG: decode at a fraction of the size
                upright = ImageOps.exif_transpose(opened)
                rgb = upright.convert("RGB")
    except PhotoSkipped:
        raise
    except FileNotFoundError as exc:
        raise PhotoSkipped("vanished", str(exc)) from None
    except PermissionError as exc:
        raise PhotoSkipped("permission", str(exc)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoSkipped("too-large", str(exc)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, RuntimeError) as exc:
        # Truncated, corrupt, zero bytes or not an image at all: Pillow (or libheif, RuntimeError) says so.
        raise PhotoSkipped("unreadable", f"{type(exc).__name__}: {exc}") from None
    width, height = _original_size(stored, orientation, rgb.size)
    image = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    return Photo(image, width, height, image.shape[1] / width)


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


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        from PIL import Image
        from pillow_heif import register_heif_opener

        register_heif_opener()
        Image.init()  # every plugin registered, so that FORMATS can name WEBP
        _heif_registered = True
