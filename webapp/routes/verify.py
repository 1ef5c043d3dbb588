"""POST /verify: is this the same person? Two photos, or a photo and an enrolled identity (1:1), answered
as DeepFace's verify and CompreFace's verification are: {verified, similarity, threshold, faces}.

Two photos are compared as /compare_embeddings compares their faces' vectors, at the model's threshold.
A photo against an identity is held to that person's own bar, as naming holds it. The answer never
names anyone: the caller sent the hash, and GET /faces/{hash} is where a name is read (with the reading
rights that route needs), so verifying adds no way to learn who an identity is. Nothing sent is stored.
"""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, jsonify, request

from services.photos import ChosenFace, FaceNotChosen
from webapp.current import parts
from webapp.http import inputs
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model

bp = Blueprint("verify", __name__)

PAIRS = ({"image1", "image2"}, {"image", "hash"})
FACE_FIELDS = {"image1": "face1", "image2": "face2", "image": "face"}  # which face of each photo (0: the largest)


@bp.post("/verify")
@runs_the_model
def verify():
    sent = {key for key in ("image1", "image2", "image", "hash") if key in request.files or key in request.form}
    if sent not in PAIRS:
        given = " and ".join(f"'{key}'" for key in sorted(sent)) or "none of them"
        raise ApiError(400, "send two photos as 'image1' and 'image2', or a photo as 'image' and an enrolled "
                            f"identity as 'hash' (multipart fields); this request has {given}")
    numbers = {photo: _face_number(FACE_FIELDS[photo]) for photo in sent if photo in FACE_FIELDS}
    photos = parts().photos
    if "hash" in sent:
        identity_hash = request.form.get("hash")
        if not identity_hash:
            raise ApiError(400, "'hash' must be an enrolled identity's hash, sent as a text field")
        identity = inputs.identity_or_404(identity_hash)
        if identity.model != photos.model_name:
            raise ApiError(409, f"{identity.hash} was enrolled with {identity.model}; this server runs "
                                f"{photos.model_name}, and faces of different models cannot be compared")
        face = _face("image", numbers["image"])
        comparison = photos.compare_to(identity, face.embedding)
        faces = {"image": face}
    else:
        # One photo decoded at a time: the first's pixels are gone before the second is read.
        faces = {"image1": _face("image1", numbers["image1"]), "image2": _face("image2", numbers["image2"])}
        comparison = photos.compare(faces["image1"].embedding, faces["image2"].embedding)
    return jsonify({
        "verified": comparison.match, "similarity": round(comparison.similarity, 6),
        "threshold": round(comparison.threshold, 6), "threshold_source": comparison.threshold_source,
        "model": photos.model_name,
        "faces": {photo: {"count": chosen.count, "face": chosen.index, "box": chosen.box.as_list()}
                  for photo, chosen in faces.items()},
    })


def _face(key: str, number: int) -> ChosenFace:
    """Face number `number` of the photo in field key, its box in the photo's own pixels."""
    decoded = inputs.decoded_upload(inputs.image_bytes(key), key)
    try:
        chosen = parts().photos.face(decoded.image, number, f"'{key}'")
    except FaceNotChosen as refused:
        raise ApiError(refused.status, str(refused))
    return ChosenFace(chosen.count, chosen.index, decoded.original(chosen.box), chosen.embedding)


def _face_number(key: str) -> int:
    raw: Optional[str] = request.form.get(key)
    if raw is None or raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        raise ApiError(400, f"'{key}' must be a face number (0 is the largest), not {raw[:20]!r}")
    return int(raw)
