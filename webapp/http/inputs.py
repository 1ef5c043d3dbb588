"""Reading and checking what clients send: form fields, photos (file or base64), names, emails, vectors.

Every check raises ApiError with a 4xx and a message that says what was wrong, so no client input can
reach the pipeline in a shape that would make it fail with a 5xx.
"""
from __future__ import annotations

import base64
import binascii
import io
import math
import re
import unicodedata
from typing import Optional

import numpy as np
from flask import request

from recognition.faces import largest
from recognition.images import MAX_PIXELS, DecodedImage, ImageError, ImageTooLarge, decode
from webapp.current import parts
from webapp.http.errors import ApiError

MAX_NAME_LENGTH = 100
MAX_CANDIDATES = 20  # 'limit': the closest people listed per face
MAX_EMAIL_LENGTH = 254
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DATA_URL_PREFIX = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)


def field(key: str) -> Optional[str]:
    """A text field from a form or a JSON object body; None when absent."""
    if request.form and key in request.form:
        return request.form[key]
    if request.is_json:
        body = json_object()
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"'{key}' must be a string")
        return value
    return None


def whole_number(key: str, most: int) -> Optional[int]:
    """Field key as a whole number from 1 to most (a count asked for: candidates, matches); None when
    absent or empty; 400 naming the field otherwise."""
    raw = field(key)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= most):
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise ApiError(400, f"'{key}' must be a whole number from 1 to {most}, not {shown!r}")
    return int(text)


def json_object() -> dict:
    if not request.is_json:
        raise ApiError(400, "the body must be a JSON object (Content-Type: application/json)")
    body = request.get_json(silent=True)  # None when unparsable, too deep included (webapp.SafeJSON)
    if body is None:
        raise ApiError(400, "the body is not valid JSON (or is nested too deeply)")
    if not isinstance(body, dict):
        raise ApiError(400, "the JSON body must be an object")
    return body


def image_bytes(key: str) -> bytes:
    """The bytes of an image sent as a multipart file, or as a base64 string (or data URL) in that field;
    400 when there is none."""
    data = optional_image_bytes(key)
    if data is None:
        raise ApiError(400, f"send the image as multipart field '{key}' (a file, or a base64 string)")
    return data


def optional_image_bytes(key: str) -> Optional[bytes]:
    """image_bytes, or None when the request has no such field."""
    upload = request.files.get(key)
    if upload is not None:
        return upload_bytes(upload)
    text = request.form.get(key)
    if text is None:
        return None
    try:
        return base64.b64decode(DATA_URL_PREFIX.sub("", text.strip()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"'{key}' is neither a file nor valid base64")


def upload_bytes(upload) -> bytes:
    """A multipart file's bytes. The parsed form holds them in a BytesIO (webapp.InMemoryRequest), which
    hands over its own buffer instead of a copy: a copy fewer of every upload in memory."""
    stream = getattr(upload, "stream", None)
    return stream.getvalue() if isinstance(stream, io.BytesIO) else upload.read()


def decode_upload(data: bytes, key: str, *, max_pixels: Optional[int] = None, shrink: bool = True) -> np.ndarray:
    """The upload's pixels in BGR, its size read from its header before any decode: 413 when larger
    than max_pixels (default recognition.images.MAX_PIXELS; a large JPEG is decoded reduced instead,
    unless not shrink), 415 when not an image we read, 400 when empty."""
    return decoded_upload(data, key, max_pixels=max_pixels, shrink=shrink).image


def decoded_upload(data: bytes, key: str, *, max_pixels: Optional[int] = None, shrink: bool = True) -> DecodedImage:
    """decode_upload, with the scale it was decoded at: for routes that give positions back."""
    try:
        return decode(data, max_pixels=MAX_PIXELS if max_pixels is None else max_pixels, shrink=shrink)
    except ImageTooLarge as exc:
        raise ApiError(413, f"'{key}' is too large: {exc}")
    except ImageError as exc:
        raise ApiError(415 if data else 400, f"'{key}' is not a usable image: {exc}")


def largest_face(image: np.ndarray, what: str = "the image"):
    face = largest(parts().analyzer.analyze(image))
    if face is None:
        raise ApiError(422, f"no face was found in {what}")
    return face


def uploaded_face(key: str = "image"):
    """The largest face in the uploaded photo, with its embedding and whom it matched."""
    return largest_face(decode_upload(image_bytes(key), key))


def camera_face(select, missing: str):
    """The largest face that select(face) accepts on the camera the request names ('camera'; the first
    without), now; 409 with missing when there is none, 404 for a camera there is not."""
    live = parts().camera(field("camera")).view
    if live.worker is None:
        raise ApiError(409, "there is no camera; send a photo as multipart 'image'")
    face = largest([f for f in live.faces_now() if f.embedding is not None and select(f)])
    if face is None:
        raise ApiError(409, missing)
    return face


def clean_name(raw: Optional[str], what: str = "the name") -> Optional[str]:
    """A display name: trimmed, at most MAX_NAME_LENGTH characters, no control characters."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ApiError(400, f"{what} must be a string")
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ApiError(400, f"{what} contains control characters")
    return name or None


def clean_email(raw: Optional[str]) -> Optional[str]:
    if raw is None or not raw.strip():
        return None
    email = raw.strip()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        raise ApiError(400, "the email address is not valid")
    return email


def vector(value, key: str, dimensions: int) -> np.ndarray:
    """A finite, non-zero vector of exactly the model's length, as float32."""
    if not isinstance(value, list) or not value:
        raise ApiError(400, f"'{key}' must be a non-empty list of numbers")
    if len(value) != dimensions:
        raise ApiError(422, f"'{key}' has {len(value)} values; the {parts().analyzer.model_name} model "
                            f"makes vectors of {dimensions}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise ApiError(400, f"'{key}' must hold numbers only")
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer too large for a float (JSON allows 10**400)
        raise ApiError(400, f"'{key}' holds a number too large to compare")
    if not np.all(np.isfinite(array)):
        raise ApiError(400, f"'{key}' holds a non-finite number (NaN or infinity)")
    with np.errstate(over="ignore"):  # an overflowing norm is refused just below
        norm = float(np.linalg.norm(array))
    if not math.isfinite(norm) or norm == 0.0:
        raise ApiError(400, f"'{key}' is a zero vector or too large to compare")
    return (array / norm).astype(np.float32)


def identity_or_404(identity_hash: str):
    identity = parts().store.get(identity_hash)
    if identity is None:
        raise ApiError(404, f"no identity {identity_hash}")
    return identity
