"""Known identities: list, rename, delete for good, and "not this person"."""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from flask import Blueprint, jsonify, render_template, request

from recognition.album.corrections import forget_identity as forget_album_link
from recognition.images import MAX_PIXELS
from recognition.pipeline.more_photos import PhotoRefused, check_photo
from recognition.pipeline.people_import import BadZip, import_people, zip_people
from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services
from webapp.throttle import runs_the_model

bp = Blueprint("identities", __name__)
log = logging.getLogger(__name__)
MAX_FACES_PER_REQUEST = 1000
MAX_PHOTOS_PER_REQUEST = 20  # each costs a detection and an embedding: about a tenth of a second
FACE_FIELDS = {"embedding", "name"}


@bp.get("/people")
def page():
    """The people page: everyone enrolled, their photo counts, rename, delete, more photos, the classifier."""
    return render_template("people.html", model=services().analyzer.model_name)


@bp.get("/faces")
def list_faces():
    """Every identity, oldest first; ?offset=&limit= pages through a large store."""
    offset = _count_argument("offset", 0)
    limit = _count_argument("limit", None)
    summaries = services().store.summaries()
    chosen = summaries[offset:] if limit is None else summaries[offset : offset + limit]
    return jsonify({"faces": chosen, "total": len(summaries), "offset": offset})


def _count_argument(key: str, default):
    raw = request.args.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 10**9:
        raise ApiError(400, f"'{key}' must be a whole number of identities")
    return int(raw)


@bp.post("/faces")
@requires_key
def enroll_vectors():
    """Enroll people from embeddings made elsewhere with the same model, by the rules of photo enrollment."""
    svc = services()
    body = inputs.json_object()
    faces = body.get("faces")
    if not isinstance(faces, list) or not faces:
        raise ApiError(400, "the JSON body needs 'faces': a non-empty list of {\"embedding\": [...], \"name\": ...}")
    if len(faces) > MAX_FACES_PER_REQUEST:
        raise ApiError(413, f"{len(faces)} faces in one request; send at most {MAX_FACES_PER_REQUEST} per request")
    model = body.get("model")
    if model is not None and model != svc.analyzer.model_name:
        raise ApiError(422, f"these vectors come from {model!r}; this server runs {svc.analyzer.model_name}, and "
                            f"vectors of different models cannot be compared")
    vectors, names = [], []
    for index, item in enumerate(faces):
        where = f"faces[{index}]"
        if not isinstance(item, dict) or "embedding" not in item:
            raise ApiError(400, f"{where} must be an object with an 'embedding' (and optionally a 'name')")
        if set(item) - FACE_FIELDS:
            raise ApiError(400, f"{where} has fields this route does not take: {sorted(set(item) - FACE_FIELDS)}")
        vectors.append(inputs.vector(item["embedding"], f"{where}.embedding", svc.analyzer.embedder.dimensions))
        names.append(inputs.clean_name(item.get("name"), f"{where}.name"))
    outcomes = svc.analyzer.matcher.enroll_many(np.vstack(vectors), names)
    created = [{"index": i, "hash": o.created.hash, "name": o.created.name} for i, o in enumerate(outcomes) if o.created]
    existing = [{"index": i, "hash": o.existing.identity_hash, "similarity": round(o.existing.similarity, 4)}
                for i, o in enumerate(outcomes) if o.existing]
    if created:
        svc.refresh_camera(created=[outcome.created for outcome in outcomes if outcome.created])
    return jsonify({"created": created, "existing": existing}), 201


@bp.get("/faces/<identity_hash>")
def show(identity_hash: str):
    """One identity: its summary, and the age, gender and emotion kept at registration (if any)."""
    return jsonify(inputs.identity_or_404(identity_hash).summary())


@bp.patch("/faces/<identity_hash>")
@requires_key
def rename(identity_hash: str):
    inputs.identity_or_404(identity_hash)
    if not request.is_json and not request.form:
        raise ApiError(400, "send the new name as JSON {\"name\": ...} or a form field 'name'")
    name = inputs.clean_name(inputs.field("name"))
    try:
        identity = services().store.rename(identity_hash, name)
    except KeyError:  # deleted meanwhile
        raise ApiError(404, f"no identity {identity_hash}")
    services().refresh_camera(changed=[identity_hash])
    return jsonify(identity.summary())


@bp.delete("/faces/<identity_hash>")
@requires_key
def delete(identity_hash: str):
    try:
        removed = erase(identity_hash)
    except KeyError:
        raise ApiError(404, f"no identity {identity_hash}")
    return jsonify({"deleted": removed.hash, "vectors_removed": len(removed.embeddings) + len(removed.rejections)})


def erase(identity_hash: str):
    """Delete a person for good: their identity, vectors and email binding are gone from disk when this
    returns, and nothing else (classifier, album links, what the camera shows) still holds them.
    KeyError when there is no such identity."""
    svc = services()
    removed = svc.store.remove(identity_hash)  # returns once no file holds its vectors
    log.info("deleted identity %s", identity_hash[:12])
    if getattr(svc.store, "data_dir", None) is not None:
        svc.classifier().forget()  # it may hold their vectors: train again without them
    # No album person stays linked to it, whether or not this server runs with its albums now.
    if svc.albums is not None:
        svc.albums.corrections.forget_identity(identity_hash)
    elif getattr(svc.store, "data_dir", None) is not None:
        forget_album_link(svc.store.data_dir, svc.store.key, identity_hash)
    svc.refresh_camera(changed=[identity_hash])
    return removed


@bp.post("/faces/<identity_hash>/photos")
@requires_key
@runs_the_model
def add_photos(identity_hash: str):
    """More photos of this person (multipart 'image', one or several files): each face is checked
    (quality, and that it is this person rather than someone else) and only then are all of their
    vectors added at once; one refused photo adds none, and says which and why."""
    identity = inputs.identity_or_404(identity_hash)
    uploads = request.files.getlist("image")
    if not uploads:
        raise ApiError(400, "send the photos as multipart field 'image' (one or several files)")
    if len(uploads) > MAX_PHOTOS_PER_REQUEST:
        raise ApiError(400, f"at most {MAX_PHOTOS_PER_REQUEST} photos per request; send the rest in another")
    checked = []
    for number, upload in enumerate(uploads):
        which = f"photo {number + 1} ({upload.filename or 'no name'})"
        image = inputs.decode_upload(inputs.upload_bytes(upload), which)
        try:
            checked.append(check_photo(services().analyzer, identity, image))
            # Later photos of the request are checked against this one too (the same photo twice adds once).
            identity = replace(identity, embeddings=identity.embeddings + (checked[-1].vector,))
        except PhotoRefused as refused:
            status = 409 if refused.kind in ("someone-else", "duplicate", "other-model") else 422
            raise ApiError(status, f"{which} was not added, nor any other: {refused}",
                           **({"matches": refused.other} if refused.other else {}))
    try:
        updated = services().store.add_vectors(identity_hash, np.stack([face.vector for face in checked]))
    except KeyError:  # deleted while the photos were being analysed
        raise ApiError(404, f"no identity {identity_hash}")
    services().refresh_camera(changed=[identity_hash])
    return jsonify({**updated.summary(), "added": len(checked),
                    "photos": [{"similarity": round(f.similarity, 4), "quality": round(f.quality, 3)} for f in checked]})


@bp.post("/people/import")
@requires_key
@runs_the_model
def import_zip():
    """A zip with a folder of photos per person (Name/photo.jpg): each person enrolled from the photo
    most like their others, or given the photos when already enrolled under that name; every photo
    checked as /faces/<hash>/photos checks it. Answers what was done and what was skipped, and why."""
    upload = request.files.get("zip")
    if upload is None:
        raise ApiError(400, "send the zip as multipart field 'zip' (a folder of photos per person)")
    try:
        people = zip_people(inputs.upload_bytes(upload))
    except BadZip as exc:
        raise ApiError(400, f"'zip' cannot be imported: {exc}")
    people = [(inputs.clean_name(name, f"the folder name {name!r}") or name, photos) for name, photos in people]
    report = import_people(people, services().analyzer, max_pixels=MAX_PIXELS)  # a request's bound, not an album's
    updated = set(report.updated)
    services().refresh_camera(changed=[s["hash"] for s in services().store.summaries() if s["name"] in updated])
    return jsonify({"created": report.created, "updated": report.updated, "added": report.added,
                    "skipped": [{"photo": label, "reason": reason, "detail": detail}
                                for label, reason, detail in report.skipped]})


@bp.post("/faces/<identity_hash>/not")
@requires_key
@runs_the_model
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
    services().refresh_camera(changed=[identity_hash])
    return jsonify({**identity.summary(), "rejections": len(identity.rejections)})

