"""Album search over HTTP: indexing progress, search by photo or by enrolled identity, and the photos
themselves (originals, highlighted or thumbnails, made in memory; nothing is written).

Only photos the album's index holds are served, with the type their first bytes say (never their name's);
the highlighted and scaled copies are cached in memory up to a number of bytes, not of pictures.
"""
from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from typing import Optional

import cv2
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, send_file

from recognition.album.photos import PhotoSkipped, read_photo
from recognition.album.search import MAX_MATCHES
from recognition.album.videos import MAX_SECONDS, read_frame
from recognition.album.walker import photo_type
from recognition.images import MAX_PIXELS
from webapp.current import parts
from webapp.http.errors import ApiError
from webapp.http.inputs import field, identity_or_404, image_bytes, whole_number
from webapp.http.throttle import runs_the_model

bp = Blueprint("albums", __name__)

RENDERS = "faceapp.album_renders"
RENDER_BYTES = 32 << 20  # highlighted and scaled copies kept in memory, the least recently used forgotten first
MAX_THUMBNAIL_SIDE = 1024
MAX_HIGHLIGHT_SIDE = 2048  # a face highlighted without a size: twice the page's preview (the original is downloadable)
QUERY_SIDE = 1280  # a query photo is searched at the size album photos are indexed at
FRAME_DECODES = threading.BoundedSemaphore(2)  # video frames decoded at once, for all clients together
FRAME_WAIT = 10.0  # seconds a request waits for one of them before it is told the server is busy


class RenderCache:
    """JPEGs by key, bounded by their total bytes; one larger than an eighth of the budget is not kept
    (a budget spent on a few large renders would serve nobody)."""

    def __init__(self, max_bytes: int = RENDER_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: "OrderedDict[tuple, bytes]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Optional[bytes]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.max_bytes // 8:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.bytes += len(data) - (len(old) if old is not None else 0)
            self._items[key] = data
            while self.bytes > self.max_bytes:
                self.bytes -= len(self._items.popitem(last=False)[1])


def init_album(app: Flask, max_bytes: int = RENDER_BYTES) -> None:
    app.extensions[RENDERS] = RenderCache(max_bytes)


@bp.get("/albums")
def page():
    """The page's shell, open without the key (webapp/http/auth.py): the album names and everything found in
    them come from the guarded JSON routes, fetched by albums.js with the key."""
    albums = parts().photo_albums
    return render_template("albums.html", model=albums.analyzer.model_name, threshold=albums.threshold)


@bp.get("/album")
def album_status():
    library = parts().photo_albums.open()
    return jsonify({"albums": sorted(library.albums), **library.progress.to_json()})


@bp.post("/album/search")
@runs_the_model
def search_by_photo():
    albums = parts().photo_albums
    albums.open()  # no album: 404 before the photo is read
    face, threshold = _face_number(field("face")), _threshold(field("threshold"))
    limit = whole_number("limit", MAX_MATCHES)  # the best this many photos
    image = _query_photo(image_bytes("image"))
    answer = albums.search_by_photo(image, face, threshold, limit)
    return _search_json(answer)


@bp.get("/album/search")
@runs_the_model
def search_by_identity():
    albums = parts().photo_albums
    albums.open()
    identity_hash = request.args.get("hash")
    if not identity_hash:
        raise ApiError(400, "give the identity as ?hash=..., or POST a photo as multipart 'image'")
    identity = identity_or_404(identity_hash)
    return _search_json(albums.search_by_identity(identity, _threshold(request.args.get("threshold"))))


def _search_json(answer):
    return jsonify({"query_faces": answer.query_faces, "threshold": answer.threshold,
                    "matches": [m.to_json() for m in answer.matches]})


@bp.get("/album/photo")
def photo():
    """The original; with box=x,y,w,h that face highlighted (at most MAX_HIGHLIGHT_SIDE pixels); with
    size=N a JPEG at most N pixels wide or high (kept in memory only)."""
    library = parts().photo_albums.open()
    album, relative = request.args.get("album", ""), request.args.get("photo", "")
    path = library.photo_path(album, relative)
    kind = photo_type(path) if path is not None else None
    if path is None or kind is None:  # the index holds it, but the file is no longer a photo: not served either
        raise ApiError(404, f"no photo {relative!r} in album {album!r}")
    box, size = _box(request.args.get("box")), _size(request.args.get("size"))
    if box is None and size is None:
        return send_file(path, mimetype=kind, download_name=path.name, max_age=0)
    key = (str(path), path.stat().st_mtime_ns, box, size)
    cache: RenderCache = current_app.extensions[RENDERS]
    rendered = cache.get(key)
    if rendered is None:
        rendered = _render(path, box, size or MAX_HIGHLIGHT_SIDE)
        cache.put(key, rendered)
    return Response(rendered, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/album/frame")
def frame():
    """A video's frame at 'at' seconds as a JPEG, with box=x,y,w,h highlighted, at most size pixels
    (MAX_HIGHLIGHT_SIDE without): decoded in memory, never kept on disk."""
    library = parts().photo_albums.open()
    album, relative = request.args.get("album", ""), request.args.get("video", "")
    at, box, size = _seconds(request.args.get("at")), _box(request.args.get("box")), _size(request.args.get("size"))
    path = library.video_path(album, relative, at)
    if path is None:
        raise ApiError(404, f"no video {relative!r} in album {album!r} with a face in view at {at}s")
    key = (str(path), path.stat().st_mtime_ns, at, box, size)
    cache: RenderCache = current_app.extensions[RENDERS]
    rendered = cache.get(key)
    if rendered is None:
        if not FRAME_DECODES.acquire(timeout=FRAME_WAIT):  # a seek decodes up to a keyframe's worth of footage
            raise ApiError(503, "busy showing other video frames: try again in a moment", headers={"Retry-After": "2"})
        try:
            image, scale = read_frame(path, at, size or MAX_HIGHLIGHT_SIDE)
        except PhotoSkipped as exc:
            raise ApiError(422, f"the frame cannot be shown: {exc}")
        finally:
            FRAME_DECODES.release()
        rendered = _jpeg(image, scale, box)
        cache.put(key, rendered)
    return Response(rendered, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


def _render(path, box: Optional[tuple], size: int) -> bytes:
    try:
        # Within a request's memory bound, as a query photo is (album photos may be larger: indexing reads
        # them in the background); a larger JPEG is read at a fraction, a larger PNG or HEIC is not shown.
        shown = read_photo(path, max_side=size, max_pixels=MAX_PIXELS)
    except PhotoSkipped as exc:
        raise ApiError(422, f"the photo cannot be shown: {exc}")
    return _jpeg(shown.image, shown.scale, box)  # read_photo's own copy: drawn on in place


def _jpeg(image, scale: float, box: Optional[tuple]) -> bytes:
    """The picture as a JPEG, box (in the original's pixels) highlighted on it."""
    if box is not None:
        x, y, w, h = (round(v * scale) for v in box)
        thickness = max(2, round(max(image.shape[:2]) / 250))
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 255), thickness)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ApiError(500, "the photo could not be encoded")
    return encoded.tobytes()


def _query_photo(data: bytes):
    """A query photo as phones send them: HEIC too, turned upright by its EXIF orientation (unlike
    the live API's decode, since album queries are often photos straight from a camera roll)."""
    if not data:
        raise ApiError(400, "'image' is empty")
    try:
        return read_photo(io.BytesIO(data), max_side=QUERY_SIDE, max_pixels=MAX_PIXELS).image
    except PhotoSkipped as exc:
        if exc.reason == "too-large":
            raise ApiError(413, f"'image' is too large: {exc}")
        raise ApiError(415, "'image' is not a photo we can read (JPEG, PNG, WebP, BMP or HEIC), or it is damaged")


def _threshold(raw: Optional[str]) -> float:
    if raw is None or raw == "":
        return parts().photo_albums.threshold
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"'threshold' must be a number between 0 and 1, not {raw!r}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ApiError(400, f"'threshold' must be between 0 and 1, not {raw}")
    return value


def _seconds(raw: Optional[str]) -> float:
    try:
        value = float(raw) if raw is not None and len(raw) <= 20 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.0 <= value <= MAX_SECONDS:
        raise ApiError(400, f"'at' must be a time in the video in seconds (0 to {MAX_SECONDS:.0f}), not {raw!r}")
    return round(value, 2)


def _face_number(raw: Optional[str]) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or len(raw) > 4:
        raise ApiError(400, f"'face' must be a face number (0 is the largest), not {raw!r}")
    return int(raw)


def _box(raw: Optional[str]) -> Optional[tuple]:
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() and len(p.strip()) <= 6 for p in parts):
        raise ApiError(400, "'box' must be x,y,w,h in the photo's pixels")
    return tuple(int(p) for p in parts)


def _size(raw: Optional[str]) -> Optional[int]:
    if raw is None:
        return None
    if not raw.isdigit() or not 16 <= int(raw) <= MAX_THUMBNAIL_SIDE:
        raise ApiError(400, f"'size' must be a number of pixels from 16 to {MAX_THUMBNAIL_SIDE}")
    return int(raw)
