"""Request bodies that would cost far more to parse than they weigh, refused before anything parses them.

Werkzeug parses an url-encoded body whole (Flask's form memory limit does not apply to it), and JSON is
parsed whole: 15 MB of `a=&a=&...` became 770 MB of Python objects, 15 MB of `[[],[],...]` 415 MB,
on open routes. So a hook checks every request's declared length and type before any route, or any
hook that reads the body, runs; waitress has the whole body by then and always declares its length.

- url-encoded: at most FORM_FIELD_BYTES and FORM_FIELDS fields. The pages send multipart or JSON;
  `curl -d` sends a few fields (a name, a token, perhaps a photo in base64).
- JSON: at most JSON.bytes, or more for the routes in LARGE_JSON (vectors), and at most a number of
  containers ('[' and '{', counted in the raw bytes, strings included: an over-count, never an
  under-count), so that `[[],[],...]` cannot expand. What is left, numbers and strings, costs at most
  about 15 times its size to parse (measured: 2 MB of short strings or distinct keys, 27 and 31 MB).
- multipart: Werkzeug's parser streams it; its own limits are set here (a text field at most
  FORM_FIELD_BYTES, at most FORM_PARTS parts), and its 413 says which limits there are.

Everything refused here gets 413 with what was too large and what the limit is.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from flask import Flask, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.http.errors import ApiError
from webapp.routes.album_people import MAX_SPLIT_FACES
from webapp.routes.people import MAX_FACES_PER_REQUEST

KB, MB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class JsonLimit:
    """bytes: the largest JSON body; containers: the most '[' and '{' in it; hint: what to do instead."""

    bytes: int
    containers: int
    hint: str = ""


FORM_FIELDS = 64  # url-encoded fields ('&'-separated, counted in the raw bytes): each costs far more than its bytes
JSON = JsonLimit(64 * KB, 256)  # every other JSON body: names, ids, {"confirm": true}
# Routes that take vectors, by endpoint. POST /faces takes up to 1,000 people's: 1,000
# Dlib vectors as this server writes them (128 values, 7 decimals) with names are about 1.7 MB; each
# face is an object and a list (twice that again for brackets in names). POST /compare_embeddings takes
# two, of up to 4,096 values (VGG-Face) written at full precision. A split names up to 1,000 faces, each
# an object of an album, a photo path (up to a few hundred bytes) and a number.
LARGE_JSON = MappingProxyType({
    "people.enroll_vectors": JsonLimit(2 * MB, 4 * MAX_FACES_PER_REQUEST + 64, " (send fewer faces per request)"),
    "album_people.split": JsonLimit(256 * KB, MAX_SPLIT_FACES + 64, " (split fewer faces at once)"),
    "embeddings.compare_embeddings": JsonLimit(256 * KB, JSON.containers),
})
# A multipart text field holds a name, a token, or a photo in base64 (up to about 3 MB of photo; a file
# part has no such limit beyond the body's): held as text, then decoded, beside the body itself.
# Parts: a sign-in burst is at most 112 frames (liveness.burst.MAX_FRAMES).
FORM_FIELD_BYTES = 4 * MB
FORM_PARTS = 256
FORM_TYPE = "application/x-www-form-urlencoded"


def install(app: Flask) -> None:
    """Refuse costly bodies before every route (install right after the Host and Origin checks, before
    any hook that may read a body), and set and explain Werkzeug's multipart limits."""
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_FIELD_BYTES
    app.config["MAX_FORM_PARTS"] = FORM_PARTS
    app.before_request(check_body)
    app.register_error_handler(RequestEntityTooLarge, too_large)


def check_body() -> None:
    length = request.content_length or 0
    if not length:
        return
    if request.mimetype == FORM_TYPE:
        if length > FORM_FIELD_BYTES:
            raise ApiError(413, f"an url-encoded body may be at most {_size(FORM_FIELD_BYTES)} (this one is "
                                f"{_size(length)}): send photos as multipart files")
        fields = request.get_data(cache=True).count(b"&") + 1  # kept: the form's parse reads this copy
        if fields > FORM_FIELDS:
            raise ApiError(413, f"an url-encoded body may hold at most {FORM_FIELDS} fields (this one holds "
                                f"{fields:,}): send them as multipart or JSON")
    if request.is_json:
        check_json(length)


def check_json(length: int) -> None:
    limit = LARGE_JSON.get(request.endpoint or "", JSON)
    if length > limit.bytes:
        raise ApiError(413, f"a JSON body may be at most {_size(limit.bytes)} here (this one is {_size(length)})"
                            + limit.hint)
    data = request.get_data(cache=True)  # kept: the route's own parse reads this copy
    count = data.count(b"[") + data.count(b"{")
    if count > limit.containers:
        raise ApiError(413, f"the JSON body holds {count:,} lists and objects; at most {limit.containers:,} here")


def too_large(error: RequestEntityTooLarge):
    """Werkzeug's (and Flask's) own 413: the body over --max-upload-mb, or a multipart form over its limits."""
    limit = request.max_content_length
    return jsonify({"error": f"the request is too large: a body of at most {_size(limit or 0)} (--max-upload-mb), "
                             f"a multipart form of at most {FORM_PARTS} parts, a text field in it of at most "
                             f"{_size(FORM_FIELD_BYTES)} (send a photo as a file part, not base64)"}), 413


def _size(count: int) -> str:
    return f"{count / MB:.1f} MB" if count >= MB else f"{count / KB:.0f} KB" if count >= KB else f"{count} bytes"
