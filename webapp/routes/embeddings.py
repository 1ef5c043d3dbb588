"""Embeddings in and out: identify a frame, extract from an image or a video, compare two vectors.

These routes read and compute only; nothing they receive is stored.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np
from flask import Blueprint, jsonify, request

from recognition.faces import largest
from recognition.pipeline.video import VideoError
from webapp.current import parts
from webapp.http import inputs
from webapp.http.errors import ApiError
from webapp.http.throttle import runs_the_model

bp = Blueprint("embeddings", __name__)


def _vector_json(vector) -> list[float]:
    return [round(float(x), 7) for x in vector]


def candidates_json(vectors: Sequence[Optional[np.ndarray]], limit: Optional[int]) -> list[dict]:
    """{"candidates": [...]} per face with 'limit' (the closest enrolled people, closest first), or {} per
    face without it: the answer is then as it was before 'limit' existed."""
    if limit is None:
        return [{} for _ in vectors]
    rows = [vector for vector in vectors if vector is not None]
    if len(rows) != len(vectors):  # the photo routes embed every face they return
        raise RuntimeError("a face without an embedding cannot be compared with the store")
    ranked = parts().photos.candidates(np.stack(rows), limit) if rows else []
    return [{"candidates": [{"hash": m.identity_hash, "name": m.name, "similarity": round(float(m.similarity), 4)}
                            for m in matches]} for matches in ranked]


@bp.post("/process-frame")
@runs_the_model
def process_frame():
    limit = inputs.whole_number("limit", inputs.MAX_CANDIDATES)  # checked before the model runs
    decoded = inputs.decoded_upload(inputs.image_bytes("frame"), "frame")
    photos = parts().photos
    faces, attributes = photos.faces(decoded.image)
    if not faces:
        raise ApiError(422, "no face was found in the frame", faces=[])
    # Positions in the picture sent, even when a large JPEG was decoded at a fraction of its size.
    faces = [replace(observation, box=decoded.original(observation.box)) for observation in faces]
    ranked = candidates_json([observation.embedding for observation in faces], limit)
    face = largest(faces)
    return jsonify({
        "hash": face.identity_hash,
        "name": face.name,
        "similarity": None if face.similarity is None else round(float(face.similarity), 4),
        "coords": face.box.as_list(),
        "embedding": _vector_json(face.embedding),
        **attributes[faces.index(face)],
        **ranked[faces.index(face)],
        "faces": [{**observation.to_json(), **found, **candidates}
                  for observation, found, candidates in zip(faces, attributes, ranked)],
        "model": photos.model_name,
    })


@bp.post("/extract_embeddings_from_image")
@runs_the_model
def extract_from_image():
    decoded = inputs.decoded_upload(inputs.image_bytes("image"), "image")
    photos = parts().photos
    boxes, vectors, attributes = photos.embeddings(decoded.image)
    return jsonify({
        "model": photos.model_name,
        "embeddings": [{"embedding": _vector_json(v), "box": decoded.original(b).as_list(), **found}
                       for b, v, found in zip(boxes, vectors, attributes)],
    })


@bp.post("/extract_embeddings_from_video")
@runs_the_model
def extract_from_video_route():
    upload = request.files.get("video")
    if upload is None:
        raise ApiError(400, "send the video as multipart file field 'video'")
    photos = parts().photos
    try:
        extraction = photos.video(inputs.upload_bytes(upload))
    except VideoError as exc:
        raise ApiError(413 if exc.too_large else 415, str(exc))
    return jsonify({
        "model": photos.model_name,
        "fps": round(extraction.fps, 3),
        "duration": round(extraction.duration, 3),
        "frames_read": extraction.frames_read,
        "frames_analysed": extraction.frames_analysed,
        "faces_seen": extraction.faces_seen,
        "min_quality": photos.video_limits.min_quality,
        "embeddings": [
            {"frame": face.frame, "time": round(face.time, 3), "box": face.box.as_list(),
             "quality": round(face.quality.overall, 3), "quality_parts": face.quality.to_json(),
             "embedding": _vector_json(face.embedding)}
            for face in extraction.faces
        ],
    })


@bp.post("/compare_embeddings")
def compare_embeddings():
    body = inputs.json_object()
    photos = parts().photos
    missing = [key for key in ("embedding1", "embedding2") if key not in body]
    if missing:
        raise ApiError(400, f"the JSON body needs {' and '.join(repr(k) for k in missing)}")
    first = inputs.vector(body["embedding1"], "embedding1", photos.dimensions)
    second = inputs.vector(body["embedding2"], "embedding2", photos.dimensions)
    compared = photos.compare(first, second)
    return jsonify({"similarity": round(compared.similarity, 6), "match": compared.match,
                    "threshold": compared.threshold, "model": photos.model_name})
