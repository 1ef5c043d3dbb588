"""/hash and /enroll: who is on camera now, and enrolling people (the 'a' key, or a photo)."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from recognition.faces import largest
from recognition.matching.matcher import AlreadyEnrolled
from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services
from webapp.throttle import runs_the_model

bp = Blueprint("api", __name__)


@bp.get("/hash")
def current_hash():
    svc = services()
    now = time.time()
    result, fresh = svc.current_result(now)
    faces = result.faces if fresh else ()  # from this one result, so frame numbers and faces agree
    best = largest(faces, known=True)
    return jsonify(
        {
            "hash": best.identity_hash if best else None,
            "name": best.name if best else None,
            "faces": [face.to_json() for face in faces],
            "frame": result.frame_seq if result else None,
            "source_frame": result.source_index if result else None,
            "captured_at": result.captured_at if result else None,
            "analysed_at": result.analysed_at if result else None,
            "analysed": result.number if result else 0,
            "status": {
                "camera": svc.camera_status(),
                "model": svc.analyzer.model_name,
                "embedder": svc.model_status(),
                "detector": svc.analyzer.detector.name,
                "recognition": svc.recognition_status(),
                "privacy": svc.privacy_status(),
                "threshold": svc.analyzer.matcher.threshold,
                "fresh": fresh,
                "api_key_required": bool(svc.api_key),
            },
        }
    )


@bp.post("/enroll")
@requires_key
@runs_the_model
def enroll():
    svc = services()
    name = inputs.clean_name(inputs.field("name"))
    if "image" in request.files or "image" in request.form:
        face = inputs.uploaded_face("image")
    else:
        face = inputs.camera_face(lambda f: not f.known, "there is no unknown face on camera right now")
    try:
        identity = svc.analyzer.matcher.enroll(face.embedding, name)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already enrolled", hash=exc.match.identity_hash, name=exc.match.name)
    svc.refresh_camera(created=[identity])
    return jsonify({"hash": identity.hash, "name": identity.name}), 201

