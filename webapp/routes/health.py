"""GET /health: whether the server is up, for load balancers and uptime checks; open without the key,
so it says nothing about people (no names, no faces, no camera source or name, no count of anyone); of
the cameras it gives the first one's state and how many are in each state."""
from __future__ import annotations

from collections import Counter

from flask import Blueprint, jsonify

from webapp.current import parts

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    built = parts()
    live = built.live
    states = Counter(camera.view.camera_status()["state"] for camera in built.cameras)
    # "camera": the first camera's state, as before; "cameras": how many are in each state (no names).
    return jsonify({"status": "ok", "model": live.model_status()["state"], "camera": live.camera_status()["state"],
                    "cameras": dict(states)})
