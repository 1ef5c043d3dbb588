"""Which cameras a server watches: `--camera NAME=SOURCE[,option=value...]`, `FACE_CAMERAS`, or a camera
added at run time (POST /cameras), each with the settings where it differs from the server's."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

BLUR_MODES = ("none", "unknown", "all")
OVERLAYS = ("boxes", "masks")
# A name goes in URLs (/streaming/<name>) and in the page: short, lower case, nothing to escape.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_SOURCE_LENGTH = 2048
MAX_CAMERAS = 16  # each camera holds a capture thread, a worker and a frame or two in memory
FIRST_CAMERA = "camera"  # the name --source's camera goes by


class CameraSpecError(ValueError):
    """A camera's description is wrong; the message says what."""


@dataclass(frozen=True)
class CameraSpec:
    """One camera: its name, its source (webcam index, file or URL), and its own settings where they
    differ from the server's (None: the server's --blur, --stream-width, --overlay)."""

    name: str
    source: str
    blur: Optional[str] = None
    stream_width: Optional[int] = None
    overlay: Optional[str] = None

    def to_json(self) -> dict:
        return {"name": self.name, "blur": self.blur, "stream_width": self.stream_width, "overlay": self.overlay}


def _choice(options: tuple[str, ...]):
    def check(what: str, value: Any) -> str:
        if value not in options:
            raise CameraSpecError(f"{what} must be one of {', '.join(options)}, not {value!r}")
        return value
    return check


def _width(what: str, value: Any) -> int:
    try:
        width = int(value)
    except (TypeError, ValueError, OverflowError):
        raise CameraSpecError(f"{what} must be a whole number of pixels, not {value!r}") from None
    if isinstance(value, bool) or not 64 <= width <= 7680:
        raise CameraSpecError(f"{what} must be between 64 and 7680 pixels, not {value!r}")
    return width


# option name (as --camera and POST /cameras spell it) -> (CameraSpec field, check)
OPTIONS = {"blur": ("blur", _choice(BLUR_MODES)), "stream-width": ("stream_width", _width),
           "overlay": ("overlay", _choice(OVERLAYS))}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        # The text is not repeated: a name forgotten before a URL would show the URL's password.
        raise CameraSpecError("a camera's name is 1 to 32 characters: lower-case letters, digits, '-' and '_', "
                              "starting with a letter or digit")
    return name


def check_source(source: Any) -> str:
    if not isinstance(source, str) or not source.strip() or source.strip().lower() == "none":
        raise CameraSpecError("a camera needs a source: a webcam index, a video file or a stream URL")
    if len(source) > MAX_SOURCE_LENGTH or any(ord(ch) < 32 for ch in source):
        raise CameraSpecError(f"a camera's source is at most {MAX_SOURCE_LENGTH} characters, without control "
                              "characters")
    return source.strip()


def parse_camera(text: str) -> CameraSpec:
    """'door=rtsp://host/stream,blur=unknown,stream-width=1280' -> CameraSpec. A comma starts an option
    only where a known option's name and '=' follow it, so a URL may hold commas of its own."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise CameraSpecError("a camera is NAME=SOURCE[,option=value...]: its name is missing")
    options_at = re.compile(r",(?=(?:" + "|".join(map(re.escape, OPTIONS)) + r")=)")
    source, *options = options_at.split(rest)
    given: dict[str, str] = {}
    for option in options:
        key, _, value = option.partition("=")
        if key in given:
            raise CameraSpecError(f"camera {name!r} sets {key} twice")
        given[key] = value
    return camera_from_mapping({"name": name.strip(), "source": source, **given})


def camera_from_mapping(values: Mapping[str, Any]) -> CameraSpec:
    """A CameraSpec from a JSON object or parsed options: name, source, and options by their names
    (stream-width or stream_width)."""
    fields: dict[str, Any] = {"name": check_name(values.get("name")), "source": check_source(values.get("source"))}
    for key, value in values.items():
        if key in ("name", "source"):
            continue
        option = key.replace("_", "-")
        if option not in OPTIONS:
            raise CameraSpecError(f"unknown camera option {key!r}; known: {', '.join(OPTIONS)}")
        field, check = OPTIONS[option]
        if value is not None:
            fields[field] = check(f"camera {fields['name']!r}: {option}", value)
    return CameraSpec(**fields)


def cameras_from(texts: list) -> tuple[CameraSpec, ...]:
    """Cameras from their texts (or specs already parsed), checked as a set: names differ."""
    cameras = tuple(text if isinstance(text, CameraSpec) else parse_camera(text) for text in texts)
    names = [camera.name for camera in cameras]
    for name in names:
        if names.count(name) > 1:
            raise CameraSpecError(f"two cameras are named {name!r}")
    if len(cameras) > MAX_CAMERAS:
        raise CameraSpecError(f"at most {MAX_CAMERAS} cameras, not {len(cameras)}")
    return cameras
