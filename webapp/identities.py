"""Known identities: list, rename, delete for good, and "not this person"."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services

bp = Blueprint("identities", __name__)
log = logging.getLogger(__name__)


@bp.get("/faces")
def list_faces():
    return jsonify({"faces": [identity.summary() for identity in services().store.identities()]})


@bp.patch("/faces/<identity_hash>")
@requires_key
def rename(identity_hash: str):
    inputs.identity_or_404(identity_hash)
    if not request.is_json and not request.form:
        raise ApiError(400, "send the new name as JSON {\"name\": ...} or a form field 'name'")
    name = inputs.clean_name(inputs.field("name"))
    store = services().store
    with store.transaction():
        inputs.identity_or_404(identity_hash)  # it may have been deleted meanwhile
        identity = store.update(identity_hash, name=name)
    services().refresh_camera()
    return jsonify(identity.summary())


@bp.delete("/faces/<identity_hash>")
@requires_key
def delete(identity_hash: str):
    store = services().store
    with store.transaction():
        inputs.identity_or_404(identity_hash)
        removed = store.remove(identity_hash)  # returns once the file without its vectors is on disk
    log.info("deleted identity %s", identity_hash[:12])
    services().refresh_camera()
    return jsonify({"deleted": removed.hash, "vectors_removed": len(removed.embeddings) + len(removed.rejections)})


@bp.post("/faces/<identity_hash>/not")
@requires_key
def not_this_person(identity_hash: str):
    """Record a face (a photo, or the one on camera now) as "not this person", so it stops matching."""
    inputs.identity_or_404(identity_hash)
    data = inputs.image_bytes("image", required=False)
    if data is not None:
        face = inputs.largest_face(inputs.decode_upload(data, "image"), "the photo")
    else:
        face = inputs.camera_face(lambda f: f.identity_hash == identity_hash,
                                  "nobody on camera is matched to this identity right now; send a photo as 'image'")
    try:
        identity = services().analyzer.matcher.reject(identity_hash, face.embedding)
    except KeyError:  # deleted while the photo was being analysed
        raise ApiError(404, f"no identity {identity_hash}")
    services().refresh_camera()
    return jsonify({**identity.summary(), "rejections": len(identity.rejections)})

