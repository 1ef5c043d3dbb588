"""/hash, /enroll and /faces: who is on camera now, and enrolling people."""
from __future__ import annotations

import time
import unicodedata
from typing import Optional

from flask import Blueprint, jsonify, request

from recognition.faces import largest
from recognition.images import ImageError, decode_image
from recognition.matcher import AlreadyEnrolled
from webapp.errors import ApiError
from webapp.services import services

bp = Blueprint("api", __name__)
MAX_NAME_LENGTH = 100


@bp.get("/hash")
def current_hash():
    svc = services()
    now = time.time()
    result, fresh = svc.current_result(now)
    faces = result.faces if fresh else ()
    best = largest(faces, known=True)
    return jsonify(
        {
            "hash": best.identity_hash if best else None,
            "name": best.name if best else None,
            "faces": [face.to_json() for face in faces],
            "frame": result.frame_seq if result else None,
            "source_frame": result.source_index if result else None,
            "captured_at": result.captured_at if result else None,
            "status": {
                "camera": svc.camera_status(),
                "model": svc.analyzer.model_name,
                "detector": svc.analyzer.detector.name,
                "threshold": svc.analyzer.matcher.threshold,
                "fresh": fresh,
            },
        }
    )


@bp.post("/enroll")
def enroll():
    svc = services()
    upload = request.files.get("image")
    name = clean_name(_field("name"))
    if upload is not None:
        face = _largest_face_in_upload(upload.read())
    else:
        face = _largest_unknown_face_on_camera()
    try:
        identity = svc.analyzer.matcher.enroll(face.embedding, name)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already enrolled", hash=exc.match.identity_hash, name=exc.match.name)
    if svc.worker is not None:
        svc.worker.refresh()
    return jsonify({"hash": identity.hash, "name": identity.name}), 201


@bp.get("/faces")
def faces():
    identities = services().store.identities()
    return jsonify({"faces": [identity.summary() for identity in identities]})


def _field(key: str) -> Optional[str]:
    if request.form and key in request.form:
        return request.form[key]
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None:
            raise ApiError(400, "the JSON body is malformed")
        if not isinstance(body, dict):
            raise ApiError(400, "the JSON body must be an object")
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"'{key}' must be a string")
        return value
    return None


def clean_name(raw: Optional[str]) -> Optional[str]:
    """A display name: trimmed, at most MAX_NAME_LENGTH characters, no control characters."""
    if raw is None:
        return None
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, f"the name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ApiError(400, "the name contains control characters")
    return name or None


def _largest_face_in_upload(data: bytes):
    try:
        image = decode_image(data)
    except ImageError as exc:
        raise ApiError(415 if data else 400, f"'image' is not usable: {exc}")
    observations = services().analyzer.analyze(image)
    face = largest(observations)
    if face is None:
        raise ApiError(422, "no face was found in the image")
    return face


def _largest_unknown_face_on_camera():
    svc = services()
    if svc.worker is None:
        raise ApiError(409, "there is no camera; send a photo as multipart 'image' to enroll")
    result, fresh = svc.current_result(time.time())
    face = largest(result.faces, known=False) if fresh else None
    if face is None:
        raise ApiError(409, "there is no unknown face on camera right now")
    return face
