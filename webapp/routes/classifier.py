"""The classifier over HTTP (seed 004): POST /train_model trains it on everyone with two or more
vectors and reports how it did; POST /predict_face names the faces of a photo with it."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import requires_key
from webapp.http.throttle import runs_the_model
from webapp.routes.embeddings import candidates_json

bp = Blueprint("classifier", __name__)


@bp.post("/train_model")
@requires_key
def train_model():
    return jsonify({**parts().classifier.train().to_json(), "stale": False})


@bp.post("/predict_face")
@runs_the_model
def predict_face():
    """multipart 'file' (the seed's field) or 'image': every face, named by the classifier or unknown; with
    'limit', each face's closest enrolled people too (the store's search: the classifier still names)."""
    limit = inputs.whole_number("limit", inputs.MAX_CANDIDATES)
    key = "file" if "file" in request.files or "file" in request.form else "image"
    decoded = inputs.decoded_upload(inputs.image_bytes(key), key)
    prediction = parts().classifier.predict(decoded.image)
    ranked = candidates_json([face.embedding for face in prediction.faces], limit)
    faces = [{"name": face.identity.name if face.identity else None,
              "hash": face.identity.hash if face.identity else None,
              "probability": round(face.probability, 4), "known": face.identity is not None,
              "box": decoded.original(face.box).as_list(), **face.attributes, **candidates}  # the photo's pixels
             for face, candidates in zip(prediction.faces, ranked)]
    return jsonify({"faces": faces, "method": prediction.method, "stale": prediction.stale})
