"""People over HTTP: the people page, list, enroll (a photo, the face on camera, or vectors), rename, more
photos, "not this person", import a zip, and delete for good."""
from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify, render_template, request

from recognition.matching.matcher import AlreadyEnrolled
from recognition.pipeline.people_import import BadZip, zip_people
from services.people import PhotoNotAdded
from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import requires_key
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model

bp = Blueprint("people", __name__)
MAX_FACES_PER_REQUEST = 1000
MAX_PHOTOS_PER_REQUEST = 20  # each costs a detection and an embedding: about a tenth of a second
FACE_FIELDS = {"embedding", "name"}


@bp.get("/people")
def page():
    """The people page: everyone enrolled, their photo counts, rename, delete, more photos, the classifier."""
    return render_template("people.html", model=parts().analyzer.model_name)


@bp.get("/faces")
def list_faces():
    """Every identity, oldest first; ?offset=&limit= pages through a large store."""
    offset = _count_argument("offset", 0)
    limit = _count_argument("limit", None)
    summaries = parts().store.summaries()
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
    analyzer = parts().analyzer
    body = inputs.json_object()
    faces = body.get("faces")
    if not isinstance(faces, list) or not faces:
        raise ApiError(400, "the JSON body needs 'faces': a non-empty list of {\"embedding\": [...], \"name\": ...}")
    if len(faces) > MAX_FACES_PER_REQUEST:
        raise ApiError(413, f"{len(faces)} faces in one request; send at most {MAX_FACES_PER_REQUEST} per request")
    model = body.get("model")
    if model is not None and model != analyzer.model_name:
        raise ApiError(422, f"these vectors come from {model!r}; this server runs {analyzer.model_name}, and "
                            f"vectors of different models cannot be compared")
    vectors, names = [], []
    for index, item in enumerate(faces):
        where = f"faces[{index}]"
        if not isinstance(item, dict) or "embedding" not in item:
            raise ApiError(400, f"{where} must be an object with an 'embedding' (and optionally a 'name')")
        if set(item) - FACE_FIELDS:
            raise ApiError(400, f"{where} has fields this route does not take: {sorted(set(item) - FACE_FIELDS)}")
        vectors.append(inputs.vector(item["embedding"], f"{where}.embedding", parts().photos.dimensions))
        names.append(inputs.clean_name(item.get("name"), f"{where}.name"))
    outcomes = parts().people.enroll_vectors(np.vstack(vectors), names)
    created = [{"index": i, "hash": o.created.hash, "name": o.created.name} for i,
               o in enumerate(outcomes) if o.created]
    existing = [{"index": i, "hash": o.existing.identity_hash, "similarity": round(o.existing.similarity, 4)}
                for i, o in enumerate(outcomes) if o.existing]
    return jsonify({"created": created, "existing": existing}), 201


@bp.post("/enroll")
@requires_key
@runs_the_model
def enroll():
    """Enroll a face: the largest in a photo ('image'), or else the largest unknown face on camera now."""
    name = inputs.clean_name(inputs.field("name"))
    if "image" in request.files or "image" in request.form:
        face = inputs.uploaded_face("image")
    else:
        face = inputs.camera_face(lambda f: not f.known, "there is no unknown face on camera right now")
    try:
        identity = parts().people.enroll(face.embedding, name)
    except AlreadyEnrolled as exc:
        raise ApiError(409, "this face is already enrolled", hash=exc.match.identity_hash, name=exc.match.name)
    return jsonify({"hash": identity.hash, "name": identity.name}), 201


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
    return jsonify(parts().people.rename(identity_hash, name).summary())


@bp.delete("/faces/<identity_hash>")
@requires_key
def delete(identity_hash: str):
    removed = parts().people.erase(identity_hash)
    return jsonify({"deleted": removed.hash, "vectors_removed": len(removed.embeddings) + len(removed.rejections)})


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
    names = [f"photo {number + 1} ({upload.filename or 'no name'})" for number, upload in enumerate(uploads)]
    # One decoded photo at a time: each is checked before the next is decoded (a refusal stops there).
    images = (inputs.decode_upload(inputs.upload_bytes(upload), which) for upload, which in zip(uploads, names))
    try:
        updated, checked = parts().people.add_photos(identity, images)
    except PhotoNotAdded as failed:
        refused = failed.refused
        status = 409 if refused.kind in ("someone-else", "duplicate", "other-model") else 422
        message = f"{names[failed.index]} was not added, nor any other: {refused}"
        if refused.other:  # the person it matches better
            raise ApiError(status, message, matches=refused.other)
        raise ApiError(status, message)
    return jsonify({**updated.summary(), "added": len(checked),
                    "photos": [{"similarity": round(f.similarity, 4), "quality": round(f.quality,
                                                                                       3)} for f in checked]})


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
    report = parts().people.import_people(people)
    return jsonify({"created": report.created, "updated": report.updated, "added": report.added,
                    "skipped": [{"photo": label, "reason": reason, "detail": detail}
                                for label, reason, detail in report.skipped]})


@bp.post("/faces/<identity_hash>/not")
@requires_key
@runs_the_model
def not_this_person(identity_hash: str):
    """Record a face (a photo, or the one on camera now) as "not this person", so it stops matching."""
    inputs.identity_or_404(identity_hash)
    data = inputs.optional_image_bytes("image")
    if data is not None:
        face = inputs.largest_face(inputs.decode_upload(data, "image"), "the photo")
    else:
        face = inputs.camera_face(lambda f: f.identity_hash == identity_hash,
                                  "nobody on camera is matched to this identity right now; send a photo as 'image'")
    identity = parts().people.reject(identity_hash, face.embedding)
    return jsonify({**identity.summary(), "rejections": len(identity.rejections)})

