"""Turning image bytes and odd pixel layouts into the 3-channel BGR arrays the pipeline expects.

What a decode will cost is read from the image's header first (recognition.image_header), so a few
hundred bytes declaring a billion pixels are refused before anything is allocated. A large JPEG is
decoded by libjpeg at a half, a quarter or an eighth of its size instead of being refused, so a
48-megapixel phone photo still works; other formats cannot be decoded smaller than they are.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from recognition.faces import Box
from recognition.image_header import NAMES, HeaderError, ImageHeader, read_header

# A 4K frame at most. Decoding takes about 6 bytes a decoded pixel at its peak (OpenCV decodes into an
# image of its own and copies it into the array it hands over), and so does the pipeline after it (the
# image, a grey copy for the detector, an RGB one for the aligner): 47 MB here. With the upload's second
# copy (waitress's buffer and the parsed form each hold one) a request stays within 64 MB beyond the
# largest upload. Measured: a 12 MP JPEG decoded whole raised the server's peak by 72 MB; at half its
# size, by 20 (tests/test_bombs.py, bench/bombs_bench.py).
MAX_PIXELS = 3840 * 2160
BYTES_PER_PIXEL = 6
FORMATS = ("JPEG", "PNG", "WEBP", "BMP")  # what OpenCV decodes for us; HEIC goes through the album reader

# OpenCV's own limit on a decoded image's pixels, the second guard behind the header check. OpenCV
# reads it from the environment once, at its first decode, so it is set here, before this module
# decodes anything (run.py sets it before importing anything, for a decode elsewhere that came first).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402  (after the limit above is in the environment)

REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}


class ImageError(ValueError):
    """The bytes are not an image we can read; the message says why (a route answers 415)."""


class ImageTooLarge(ImageError):
    """An image we read, but larger than the limit (a route answers 413)."""


@dataclass(frozen=True)
class DecodedImage:
    image: np.ndarray  # BGR uint8
    scale: float  # decoded pixels per pixel of the original: below 1 when a large JPEG was decoded reduced
    header: ImageHeader

    def original(self, box: Box) -> Box:
        """box (found in image) in the original picture's pixels, as a client that sent it expects."""
        if self.scale == 1.0:
            return box
        return Box(*(round(value / self.scale) for value in box.as_list()))


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Return a uint8 3-channel BGR view of a grayscale, BGR or BGRA image."""
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        raise ImageError("empty image")
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise ImageError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    raise ImageError(f"unsupported image shape {image.shape}")


def decode_bytes(header: ImageHeader, reduction: int = 1) -> int:
    """The memory decoding header's image at 1/reduction of its sides takes at its peak, measured."""
    pixels = math.ceil(header.width / reduction) * math.ceil(header.height / reduction)
    if header.format == "WEBP":  # libwebp decodes into a buffer of its own first: 8 with alpha, 7 without
        return pixels * (8 if header.channels == 4 else 7)
    # A progressive JPEG's coefficients are all held until the last scan, then freed before OpenCV's copy.
    return max(pixels * BYTES_PER_PIXEL, header.held_bytes + pixels * 3)


def check_header(data: bytes, *, max_pixels: int = MAX_PIXELS, shrink: bool = True) -> tuple[ImageHeader, int]:
    """The image's header and the reduction (1, 2, 4 or 8) it will be decoded at to fit max_pixels
    (always 1 without shrink). Raises ImageError (not an image we read) or ImageTooLarge, having
    decoded nothing."""
    try:
        header = read_header(data, FORMATS)
    except HeaderError as exc:
        raise ImageError(str(exc)) from None
    budget = max_pixels * BYTES_PER_PIXEL
    reductions = (1, 2, 4, 8) if header.format == "JPEG" and shrink else (1,)  # libjpeg alone decodes smaller
    for reduction in reductions:
        if decode_bytes(header, reduction) <= budget:
            return header, reduction
    size = f"{header.width}x{header.height} ({header.pixels / 1e6:.1f} megapixels)"
    if header.held_bytes:
        raise ImageTooLarge(f"the progressive JPEG is {size}: decoding it at any size takes "
                            f"{decode_bytes(header, 8) >> 20} MB, more than {budget >> 20} MB; send a baseline JPEG")
    if header.format == "JPEG" and shrink:
        raise ImageTooLarge(f"the JPEG is {size}; even an eighth of it is more than {max_pixels / 1e6:.1f} megapixels")
    most = budget * header.pixels // decode_bytes(header)
    raise ImageTooLarge(f"the {NAMES[header.format]} image is {size}; at most {most / 1e6:.1f} megapixels are read"
                        + (" (a larger JPEG is read at a fraction of its size)" if shrink else ""))


def decode(data: bytes, *, max_pixels: int = MAX_PIXELS, shrink: bool = True) -> DecodedImage:
    """Decode JPEG, PNG, WebP or BMP bytes in memory (nothing touches disk) into BGR, the size read from
    the header first. max_pixels trades detail (small faces far off) for the memory one decode may take:
    larger JPEGs come back reduced (see DecodedImage.scale), other formats larger are refused; without
    shrink, larger JPEGs are refused too (where every picture must come at the scale it was sent at)."""
    if not data:
        raise ImageError("the image is empty")
    header, reduction = check_header(data, max_pixels=max_pixels, shrink=shrink)
    # Straight to 8-bit BGR (16-bit samples and alpha dropped by the decoder, not by copies of ours);
    # the EXIF orientation is not applied, as the API never has.
    flags = REDUCED[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:  # OpenCV's own pixel limit among others
        raise ImageError(f"the image cannot be decoded: {exc.err}") from None
    if image is None:
        raise ImageError("the image is truncated or corrupt")
    expected = (math.ceil(header.height / reduction), math.ceil(header.width / reduction))
    if image.shape[:2] != expected:  # our reading of the header and the decoder's disagree: trust neither
        raise ImageError(f"the image decoded to {image.shape[1]}x{image.shape[0]}, not the "
                         f"{expected[1]}x{expected[0]} its header declares")
    return DecodedImage(to_bgr(image), 1.0 / reduction, header)


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """decode(data).image: the BGR pixels, for callers that report no positions in the original."""
    return decode(data, max_pixels=max_pixels).image
