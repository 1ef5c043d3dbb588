"""The classifier over HTTP (seed 004): POST /train_model trains it on everyone with two or more
vectors and reports how it did; POST /predict_face names the faces of a photo with it."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from recognition.matching.classifier import NotEnoughPeople, train
from recognition.matching.trained import Trained, people_fingerprint
from webapp import inputs
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services
from webapp.throttle import runs_the_model

bp = Blueprint("classifier", __name__)


@bp.post("/train_model")
@requires_key
def train_model():
    svc = services()
    model_name = svc.analyzer.model_name
    deletions = svc.classifier().deletions
    summaries = [s for s in svc.store.summaries() if s["model"] == model_name]
    people = [i for i in svc.store.identities() if i.model == model_name]
    try:
        model, report = train([i.hash for i in people], [list(i.embeddings) for i in people],
                              svc.analyzer.matcher.required)
    except NotEnoughPeople as exc:
        raise ApiError(409, str(exc))
    if not svc.classifier().save(Trained(model, report, people_fingerprint(summaries), model_name), deletions):
        raise ApiError(409, "someone was deleted while the classifier was training; it was not kept: train again")
    return jsonify({**report.to_json(), "stale": False})


@bp.post("/predict_face")
@runs_the_model
def predict_face():
    """multipart 'file' (the seed's field) or 'image': every face, named by the classifier or unknown."""
    svc = services()
    trained = svc.classifier().get()
    if trained is None:
        raise ApiError(409, "no classifier has been trained yet: POST /train_model first")
    if trained.model_name != svc.analyzer.model_name:
        raise ApiError(409, f"the classifier was trained on {trained.model_name} vectors; the server runs "
                            f"{svc.analyzer.model_name}: POST /train_model again")
    key = "file" if "file" in request.files or "file" in request.form else "image"
    decoded = inputs.decoded_upload(inputs.image_bytes(key), key)
    image = decoded.image
    boxes, vectors = svc.analyzer.embed(image)
    faces = []
    predicted = trained.model.predict(vectors) if len(boxes) else []
    for box, (identity_hash, score), found in zip(boxes, predicted, svc.attributes_json(image, boxes)):
        identity = svc.store.get(identity_hash) if identity_hash else None
        faces.append({"name": identity.name if identity else None, "hash": identity.hash if identity else None,
                      "probability": round(score, 4), "known": identity is not None,
                      "box": decoded.original(box).as_list(), **found})  # in the photo's own pixels
    summaries = [s for s in svc.store.summaries() if s["model"] == trained.model_name]
    return jsonify({"faces": faces, "method": trained.model.method,
                    "stale": people_fingerprint(summaries) != trained.fingerprint})
