"""The cameras: list them with their status, add or remove one at run time, and one camera's newest
picture (the live page's small tiles, which would each hold a connection as streams)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from camera.specs import camera_from_mapping
from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import guarding, requires_key
from webapp.http.errors import ApiError

bp = Blueprint("cameras", __name__)


@bp.get("/cameras")
def list_cameras():
    """Every camera, the first being the one /streaming and /hash answer for."""
    built = parts()
    return jsonify({"cameras": [camera.describe() for camera in built.cameras],
                    "recognition": built.cameras.budget_status()})


@bp.post("/cameras")
@requires_key
def add_camera():
    """Start watching one more camera: {"name", "source", and optionally "blur", "stream_width",
    "overlay"}; the other cameras are not touched."""
    _runtime_changes_allowed()
    camera = parts().cameras.add(camera_from_mapping(inputs.json_object()))
    return jsonify(camera.describe()), 201


@bp.delete("/cameras/<camera>")
@requires_key
def remove_camera(camera: str):
    """Stop watching a camera; its viewers get the end of their stream, the other cameras go on."""
    _runtime_changes_allowed()
    parts().cameras.remove(camera)
    return jsonify({"removed": camera})


@bp.get("/cameras/<camera>/snapshot")
def snapshot(camera: str):
    """The camera's newest picture as its viewers see it (blurred and marked alike), one JPEG."""
    jpeg = parts().camera(camera).feed.snapshot()
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


def _runtime_changes_allowed() -> None:
    # A source is a file path or a URL the server opens and then streams: whoever adds a camera can make
    # it read any video file it can reach or connect anywhere. That takes an admin key, never a server
    # without keys, even on loopback.
    if not guarding():
        raise ApiError(403, "adding or removing cameras at run time needs the server started with --api-key, "
                            "or an admin key made with `python -m tools.keys create`")
