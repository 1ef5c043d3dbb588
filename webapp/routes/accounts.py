"""Register by photo and log in later with another photo: identities other applications can sign people in with.

The same rules serve the sign-up and sign-in pages (signin.py), which add a liveness challenge; the JSON
/login does no liveness check (it says so in /openapi.json), but its failures count toward the same
rate limits as the pages'.
"""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from recognition.matching.matcher import AlreadyEnrolled
from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import requires_key
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)
NOT_RECOGNISED = "the face was not recognised as a registered person"


@bp.post("/register")
@requires_key
@runs_the_model
def register():
    name = inputs.clean_name(inputs.field("name"))
    email = inputs.clean_email(inputs.field("email"))
    accounts, gate = parts().accounts, parts().gate
    # Counted like a sign-in, and forgiven when it succeeds: what a registration answers (a face known)
    # must not be asked without end.
    attempt = gate.begin(accounts.email_key(email))
    image = inputs.decode_upload(inputs.image_bytes("image"), "image")
    face = inputs.largest_face(image)
    try:
        identity = accounts.register(face.embedding, image, face.box, name=name, email=email)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already registered", id=exc.match.identity_hash, name=exc.match.name)
    gate.forgive(attempt)
    return jsonify({"id": identity.hash, "name": identity.name}), 201


@bp.post("/login")
@runs_the_model
def login():
    email = inputs.clean_email(inputs.field("email"))
    accounts, gate = parts().accounts, parts().gate
    attempt = gate.begin(accounts.email_key(email))
    face = inputs.uploaded_face("image")
    match = accounts.sign_in(face.embedding, email)
    if match is None:  # the same answer for an unknown email as for a wrong face: no hint that it exists
        raise ApiError(401, NOT_RECOGNISED)
    gate.check("identity:" + match.identity_hash)
    gate.forgive(attempt)
    log.info("login as %s", match.identity_hash[:12])
    return jsonify({"id": match.identity_hash, "name": match.name, "similarity": round(match.similarity, 4)})
