"""Turning image bytes and odd pixel layouts into the 3-channel BGR arrays the pipeline expects."""
from __future__ import annotations

import cv2
import numpy as np


class ImageError(ValueError):
    """The bytes are not an image we can read; the message says why."""


class ImageTooLarge(ImageError):
    """The image has more pixels than the caller accepts (found before the full decode)."""


# Larger images are refused before decoding to keep a hostile upload from exhausting memory.
MAX_PIXELS = 40_000_000


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


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/... bytes in memory (nothing touches disk) into a BGR array; ImageTooLarge when it
    has more than max_pixels."""
    if not data:
        raise ImageError("the image is empty")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        # An eighth-scale grey decode is cheap and tells the size before the full decode is risked.
        header = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:  # OpenCV cannot reduce a side shorter than 8 px: no face fits in that anyway
        raise ImageError("the image is too small (or corrupt) to hold a face")
    if header is None:
        raise ImageError("the data is not a readable image (JPEG, PNG, BMP or WebP expected)")
    if header.shape[0] * header.shape[1] * 64 > max_pixels:
        raise ImageTooLarge(f"the image has more than {max_pixels} pixels ({max_pixels / 1e6:g} megapixels)")
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"the image cannot be decoded: {exc.err}")
    if image is None:
        raise ImageError("the image is truncated or corrupt")
    return to_bgr(image)
