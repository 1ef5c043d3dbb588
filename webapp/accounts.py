"""Register by photo and log in later with another photo: identities other applications can sign people in with.

The same rules serve the sign-up and sign-in pages (signin.py), which add a liveness challenge; the JSON
/login does no liveness check (it says so in /openapi.json), but its failures count toward the same
rate limits as the pages'.
"""
from __future__ import annotations

import json
import logging
from typing import Optional

import numpy as np
from flask import Blueprint, jsonify

from recognition.faces import Box
from recognition.matching.matcher import AlreadyEnrolled
from recognition.store.identity import Identity
from recognition.store.interface import EmailTaken, Match
from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services
from webapp.throttle import runs_the_model

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)
NOT_RECOGNISED = "the face was not recognised as a registered person"


@bp.post("/register")
@requires_key
@runs_the_model
def register():
    name = inputs.clean_name(inputs.field("name"))
    email = inputs.clean_email(inputs.field("email"))
    # Counted like a sign-in, and forgiven when it succeeds: what a registration answers (a face known)
    # must not be asked without end.
    gate = services().gate
    attempt = gate.begin(email_key(email))
    image = inputs.decode_upload(inputs.image_bytes("image"), "image")
    face = inputs.largest_face(image)
    try:
        identity = enroll_account(face.embedding, image, face.box, name=name, email=email)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already registered", id=exc.match.identity_hash, name=exc.match.name)
    gate.forgive(attempt)
    return jsonify({"id": identity.hash, "name": identity.name}), 201


def enroll_account(embedding: np.ndarray, image: np.ndarray, box: Box, *, name: Optional[str],
                   email: Optional[str]) -> Identity:
    """A new identity for this face, bound to the email's keyed hash (the email itself is never kept).
    An email already bound to someone is not bound again, and nothing in the answer says so: the identity
    is made without it, so registering is no oracle of who registered which email (the owner's binding
    stays theirs, and /login with that email still finds only them). AlreadyEnrolled when the face is
    someone's already."""
    store, matcher = services().store, services().analyzer.matcher
    email_hash = store.email_hash(email) if email else None
    if email_hash and store.find_by_email_hash(email_hash) is not None:
        email_hash = None
    # With --attributes, the age, gender and emotion at registration are kept with the identity (sealed).
    attributes = services().attributes_json(image, [box])[0] if services().attributes else None
    sealed = json.dumps(attributes, separators=(",", ":")) if attributes else None
    try:  # the store checks face and email again, atomically with the write
        identity = matcher.enroll(embedding, name, email_hash=email_hash, attributes=sealed)
    except EmailTaken:  # bound by someone else a moment ago: the same answer as above
        identity = matcher.enroll(embedding, name, email_hash=None, attributes=sealed)
    services().refresh_camera(created=[identity])
    return identity


def email_key(email: Optional[str]) -> Optional[str]:
    """The rate limits' key for an email, the same whether or not anyone registered it."""
    return "email:" + services().store.email_hash(email) if email else None


def sign_in(embeddings: np.ndarray, email: Optional[str]) -> Optional[Match]:
    """Whom this face signs in as: with an email, only its owner (1:1); without, whoever it is (1:N).
    embeddings are views of one person's face (a burst's frames): the one most like someone decides,
    provided another view also reaches them.
    None when nobody, and nothing in that answer tells whether the email exists."""
    svc = services()
    embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    if email is None:  # each view on its own (identify() would hand one identity to one face of a photo only)
        matches = [svc.analyzer.matcher.identify(vector[None])[0] for vector in embeddings]
    else:
        identity = svc.store.find_by_email_hash(svc.store.email_hash(email))
        matches = [svc.analyzer.matcher.verify(identity, vector) for vector in embeddings] if identity else []
    best = max((match for match in matches if match is not None), key=lambda match: match.similarity, default=None)
    # One view of many that happens to resemble someone is not them: two views must agree (one photo: one).
    agreeing = sum(1 for match in matches if match is not None and best and match.identity_hash == best.identity_hash)
    return best if best is not None and agreeing >= min(2, len(embeddings)) else None


@bp.post("/login")
@runs_the_model
def login():
    email = inputs.clean_email(inputs.field("email"))
    gate = services().gate
    attempt = gate.begin(email_key(email))
    face = inputs.uploaded_face("image")
    match = sign_in(face.embedding, email)
    if match is None:  # the same answer for an unknown email as for a wrong face: no hint that it exists
        raise ApiError(401, NOT_RECOGNISED)
    gate.check("identity:" + match.identity_hash)
    gate.forgive(attempt)
    log.info("login as %s", match.identity_hash[:12])
    return jsonify({"id": match.identity_hash, "name": match.name, "similarity": round(match.similarity, 4)})
