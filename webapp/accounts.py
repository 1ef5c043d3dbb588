"""Register by photo and log in later with another photo: identities other applications can sign people in with."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify

from recognition.matching.matcher import AlreadyEnrolled
from recognition.store.interface import EmailTaken
from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)
NOT_RECOGNISED = "the face was not recognised as a registered person"


@bp.post("/register")
@requires_key
def register():
    name = inputs.clean_name(inputs.field("name"))
    email = inputs.clean_email(inputs.field("email"))
    image = inputs.decode_upload(inputs.image_bytes("image"), "image")
    face = inputs.largest_face(image)
    store, matcher = services().store, services().analyzer.matcher
    email_hash = store.email_hash(email) if email else None
    # With --attributes, the age, gender and emotion at registration are kept with the identity (sealed).
    attributes = services().attributes_json(image, [face.box])[0] if services().attributes else None
    if email_hash and store.find_by_email_hash(email_hash) is not None:
        raise ApiError(409, "this email is already registered")
    try:  # the store checks face and email again, atomically with the write
        identity = matcher.enroll(face.embedding, name, email_hash=email_hash,
                                  attributes=json.dumps(attributes, separators=(",", ":")) if attributes else None)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already registered", id=exc.match.identity_hash, name=exc.match.name)
    except EmailTaken:
        raise ApiError(409, "this email is already registered")
    services().refresh_camera(created=[identity])
    return jsonify({"id": identity.hash, "name": identity.name}), 201


@bp.post("/login")
def login():
    email = inputs.clean_email(inputs.field("email"))
    face = inputs.uploaded_face("image")
    svc = services()
    if email is None:
        if not face.known:
            raise ApiError(401, NOT_RECOGNISED)
        return jsonify({"id": face.identity_hash, "name": face.name, "similarity": round(float(face.similarity), 4)})
    identity = svc.store.find_by_email_hash(svc.store.email_hash(email))
    match = svc.analyzer.matcher.verify(identity, face.embedding) if identity else None
    if match is None:  # the same answer for an unknown email as for a wrong face: no hint that it exists
        raise ApiError(401, NOT_RECOGNISED)
    log.info("login as %s", match.identity_hash[:12])
    return jsonify({"id": match.identity_hash, "name": match.name, "similarity": round(match.similarity, 4)})
