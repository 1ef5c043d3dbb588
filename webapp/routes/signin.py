"""Sign up and sign in with your face on a page, with your own camera, and your own page after.

With --liveness challenge (the default) the page asks for head movements picked at random, in turn,
and sends a burst of frames taken while the person makes them (recognition/liveness) with the SHA-256
digest of those frames: a still photo or a phone held up does not move like a head, and the same frames
are accepted once, on any server of the installation. With --liveness off, one picture (from the camera
or a file) will do. The frames stay in memory and are dropped once looked at; a few are decoded again
to be embedded. A sign-in starts a session (sessions.py); signing out revokes it everywhere.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

import numpy as np
from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from recognition.faces import Box
from recognition.liveness.burst import FRAMES_PER_MOVE, BurstLooker
from recognition.liveness.challenges import ChallengeRefused
from recognition.liveness.judge import MIN_FRAMES
from recognition.matching.matcher import AlreadyEnrolled
from webapp.current import parts
from webapp.http import inputs, sessions
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model
from webapp.routes.accounts import NOT_RECOGNISED

bp = Blueprint("signin", __name__)
log = logging.getLogger(__name__)
SECONDS_PER_MOVE = 2.4  # what the page records per asked move: FRAMES_PER_MOVE frames over this
DIGEST = re.compile(r"[0-9a-f]{64}")
# A burst's frames, each, at the scale it was sent (413 beyond, read from its header): full HD at most (the
# page sends 640x480). One is decoded at a time; the encoded burst is within --max-upload-mb.
MAX_FRAME_PIXELS = 2_100_000


@dataclass
class Presented:
    """The face a person showed: its embedding, the frame it was in and where, and how the challenge went."""

    embedding: np.ndarray  # the one to enroll
    image: np.ndarray
    box: Box
    views: np.ndarray  # every embedded view of the face, to recognise it by
    liveness: Optional[dict] = None


class LivenessFailed(ApiError):
    """A burst that did not pass; image and box: the face it showed, if one was found."""

    def __init__(self, reason: str, liveness: dict, image: Optional[np.ndarray], box: Optional[Box]) -> None:
        super().__init__(422, reason, liveness=liveness)
        self.image, self.box = image, box


@bp.get("/signup")
def signup_page():
    return render_template("face_page.html", signup=True, liveness=parts().gate.liveness)


@bp.get("/signin")
def signin_page():
    return render_template("face_page.html", signup=False, liveness=parts().gate.liveness)


@bp.get("/me")
def me_page():
    identity = sessions.signed_in()
    if identity is None:
        return redirect(url_for("signin.signin_page"))
    return render_template("me.html", person=identity.summary(),
                           registered=datetime.fromtimestamp(identity.created, timezone.utc))


@bp.post("/signin/challenge")
def challenge():
    """What the page should ask for before it records: the moves in their order, and a token to send
    back with the frames. A POST: asking counts against the client's limit, and another site's page can
    make a browser send a GET (a link followed, an image) but no POST that the edge lets through."""
    gate = parts().gate
    if not gate.challenged:
        return jsonify({"liveness": "off"})
    token, moves = gate.ask()
    return jsonify({"liveness": "challenge", "token": token, "moves": [move.name for move in moves],
                    "prompts": [move.prompt for move in moves], "frames": FRAMES_PER_MOVE * len(moves),
                    "seconds": round(SECONDS_PER_MOVE * len(moves), 2), "expires_in": gate.challenges.lifetime})


@bp.post("/signin/look")
@runs_the_model
def look():
    """Framing hints for the live preview: is there one face, big enough, in enough light."""
    frame = inputs.decode_upload(inputs.image_bytes("frame"), "frame")
    framing = parts().accounts.framing(frame)
    return jsonify({"faces": framing.faces, "ok": framing.hint is None, "hint": framing.hint,
                    "message": framing.message})


@bp.post("/signup")
@runs_the_model
def signup():
    name = inputs.clean_name(inputs.field("name"))
    email = inputs.clean_email(inputs.field("email"))
    # Counted like a sign-in: what a sign-up answers (an email taken, a face known) must not be an
    # oracle to ask without end.
    accounts = parts().accounts
    attempt = parts().gate.begin(accounts.email_key(email))
    presented = present_face()
    try:
        identity = accounts.register(presented.embedding, presented.image, presented.box, name=name, email=email)
    except AlreadyEnrolled:  # whoever this is can sign in instead; the page names no one
        raise ApiError(409, "this face is already registered: sign in instead")
    parts().gate.forgive(attempt)
    sessions.start(identity)
    log.info("signed up as %s", identity.hash[:12])
    return jsonify({"id": identity.hash, "name": identity.name, "liveness": presented.liveness}), 201


@bp.post("/signin")
@runs_the_model
def signin():
    email = inputs.clean_email(inputs.field("email"))
    accounts, gate = parts().accounts, parts().gate
    attempt = gate.begin(accounts.email_key(email))  # counted until it succeeds
    try:
        presented = present_face()
    except LivenessFailed as failure:  # a picture of someone held up counts against that someone too
        gate.count(accounts.whose(failure.image, failure.box))
        raise
    match = accounts.sign_in(presented.views, email)
    if match is None:
        raise ApiError(401, NOT_RECOGNISED, liveness=presented.liveness)
    gate.check("identity:" + match.identity_hash)
    identity = parts().store.get(match.identity_hash)
    if identity is None:  # deleted a moment ago
        raise ApiError(401, NOT_RECOGNISED, liveness=presented.liveness)
    gate.forgive(attempt)
    sessions.start(identity)
    log.info("signed in as %s", identity.hash[:12])
    return jsonify({"id": identity.hash, "name": identity.name, "similarity": round(match.similarity, 4),
                    "liveness": presented.liveness})


@bp.post("/signout")
def signout():
    """End this browser's session, and revoke it on every server: a copy of its cookie opens nothing."""
    sessions.end()
    return jsonify({"signed_out": True})


@bp.post("/me/delete")
def delete_me():
    """Erase the signed-in person for good. The body must be JSON {"confirm": true}: no form on another
    site can send that (and the cookie is SameSite=Lax besides)."""
    if inputs.json_object().get("confirm") is not True:
        raise ApiError(400, 'send {"confirm": true} to delete yourself for good')
    identity = sessions.signed_in()
    if identity is None:
        raise ApiError(401, "nobody is signed in on this browser")
    removed = parts().accounts.delete(identity)
    sessions.end()
    return jsonify({"deleted": removed.hash})


def decode_frame(data: bytes):
    """One frame of a burst, at the scale it was sent (a reduced decode would move the landmarks)."""
    return inputs.decode_upload(data, "frame", max_pixels=MAX_FRAME_PIXELS, shrink=False)


SENT_BEFORE = "these exact frames were sent before: record the movement again"


def present_face() -> Presented:
    """The face the request shows: a burst that passed the challenge, or (liveness off) one picture."""
    gate = parts().gate
    if not gate.challenged:
        image = inputs.decode_upload(inputs.image_bytes("image"), "image")
        face = inputs.largest_face(image)
        return Presented(face.embedding, image, face.box, face.embedding[None])
    if "image" in request.files or "image" in request.form:
        raise ApiError(400, "this server asks for a live head movement (--liveness challenge): a photo cannot sign "
                            "in or up; use the camera")
    uploads = request.files.getlist("frame")
    most = FRAMES_PER_MOVE * gate.challenges.steps  # what the page records: no room for moves not asked
    if not MIN_FRAMES <= len(uploads) <= most:
        raise ApiError(400, f"send {MIN_FRAMES} to {most} camera frames as multipart 'frame' fields, "
                            f"not {len(uploads)}")
    claimed = (inputs.field("digest") or "").strip().lower()
    if not DIGEST.fullmatch(claimed):
        raise ApiError(400, "send 'digest': the SHA-256 (64 hex digits) of the frames, each as its length "
                            "(8 bytes, big-endian) and its bytes, in order")
    try:
        moves = gate.challenges.redeem(inputs.field("token") or "")
    except ChallengeRefused as exc:
        raise ApiError(400, str(exc))
    if len(uploads) > FRAMES_PER_MOVE * len(moves):  # a token of another server's settings
        raise ApiError(400, f"send at most {FRAMES_PER_MOVE * len(moves)} frames for {len(moves)} moves, "
                            f"not {len(uploads)}")
    encoded = [inputs.upload_bytes(upload) for upload in uploads]  # within --max-upload-mb together
    digest = burst_digest(encoded)
    if not hmac.compare_digest(digest, claimed):
        raise ApiError(400, "the frames are not the ones the digest names: send the digest of these frames")
    if gate.burst_spent(digest):  # a look before seconds of work; the spend below is what decides
        raise ApiError(400, SENT_BEFORE)
    looker = BurstLooker(parts().analyzer, gate.poses())
    size = None
    for data in encoded:  # one decoded frame at a time; a frame too big is refused from its header
        frame = decode_frame(data)
        if size is not None and frame.shape != size:
            raise ApiError(400, "every frame of a burst comes from one camera, at one size")
        size = frame.shape
        looker.look(frame)
        del frame
    # Spent once every frame was read (frames that are not pictures spend no 30-day tag), before the
    # judgement: of two sends of one burst at once, one finds it spent.
    if not gate.spend_burst(digest):
        raise ApiError(400, SENT_BEFORE)
    check = looker.check(moves, lambda index: decode_frame(encoded[index]))  # at the scale it was looked at
    result = {**check.to_json(), "moves": [move.name for move in moves], "digest": digest}
    if not check.passed:
        raise LivenessFailed(check.reason, result, check.image, check.box)
    if check.embedding is None or check.image is None or check.box is None or check.embeddings is None:
        raise RuntimeError("a burst passed without the face it showed")
    return Presented(check.embedding, check.image, check.box, check.embeddings, result)


def burst_digest(frames: list[bytes]) -> str:
    """What names a burst's exact frames (the page computes it too, signin.js): the SHA-256 of each
    frame's length (8 bytes, big-endian) and bytes, in order."""
    digest = hashlib.sha256()
    for data in frames:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()

