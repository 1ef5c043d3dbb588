"""GET /health: whether the server is up, for load balancers and uptime checks; open without the key,
so it says nothing about people (no names, no faces, no camera source, no counts)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.current import parts

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    live = parts().live
    return jsonify({"status": "ok", "model": live.model_status()["state"], "camera": live.camera_status()["state"]})
