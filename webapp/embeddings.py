"""Embeddings in and out: identify a frame, extract from an image or a video, compare two vectors.

These routes read and compute only; nothing they receive is stored.
"""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, jsonify, request

from recognition.faces import largest
from recognition.pipeline.video import VideoError, extract_from_video
from webapp import inputs
from webapp.errors import ApiError
from webapp.services import services
from webapp.throttle import runs_the_model

bp = Blueprint("embeddings", __name__)


def _vector_json(vector) -> list[float]:
    return [round(float(x), 7) for x in vector]


@bp.post("/process-frame")
@runs_the_model
def process_frame():
    decoded = inputs.decoded_upload(inputs.image_bytes("frame"), "frame")
    image = decoded.image
    faces = services().analyzer.analyze(image)
    face = largest(faces)
    if face is None:
        raise ApiError(422, "no face was found in the frame", faces=[])
    attributes = services().attributes_json(image, [observation.box for observation in faces])
    # Positions in the picture sent, even when a large JPEG was decoded at a fraction of its size.
    faces = [replace(observation, box=decoded.original(observation.box)) for observation in faces]
    face = largest(faces)
    return jsonify({
        "hash": face.identity_hash,
        "name": face.name,
        "similarity": None if face.similarity is None else round(float(face.similarity), 4),
        "coords": face.box.as_list(),
        "embedding": _vector_json(face.embedding),
        **attributes[faces.index(face)],
        "faces": [{**observation.to_json(), **found} for observation, found in zip(faces, attributes)],
        "model": services().analyzer.model_name,
    })


@bp.post("/extract_embeddings_from_image")
@runs_the_model
def extract_from_image():
    decoded = inputs.decoded_upload(inputs.image_bytes("image"), "image")
    image = decoded.image
    boxes, vectors = services().analyzer.embed(image)
    attributes = services().attributes_json(image, boxes)
    return jsonify({
        "model": services().analyzer.model_name,
        "embeddings": [{"embedding": _vector_json(v), "box": decoded.original(b).as_list(), **found}
                       for b, v, found in zip(boxes, vectors, attributes)],
    })


@bp.post("/extract_embeddings_from_video")
@runs_the_model
def extract_from_video_route():
    upload = request.files.get("video")
    if upload is None:
        raise ApiError(400, "send the video as multipart file field 'video'")
    svc = services()
    try:
        extraction = extract_from_video(inputs.upload_bytes(upload), svc.analyzer, svc.video_limits)
    except VideoError as exc:
        raise ApiError(413 if exc.too_large else 415, str(exc))
    return jsonify({
        "model": svc.analyzer.model_name,
        "fps": round(extraction.fps, 3),
        "duration": round(extraction.duration, 3),
        "frames_read": extraction.frames_read,
        "frames_analysed": extraction.frames_analysed,
        "faces_seen": extraction.faces_seen,
        "min_quality": svc.video_limits.min_quality,
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
    analyzer = services().analyzer
    dimensions = analyzer.embedder.dimensions
    missing = [key for key in ("embedding1", "embedding2") if key not in body]
    if missing:
        raise ApiError(400, f"the JSON body needs {' and '.join(repr(k) for k in missing)}")
    first = inputs.vector(body["embedding1"], "embedding1", dimensions)
    second = inputs.vector(body["embedding2"], "embedding2", dimensions)
    similarity = float(analyzer.matcher.similarity(first, second))
    threshold = analyzer.matcher.threshold
    return jsonify({"similarity": round(similarity, 6), "match": similarity >= threshold,
                    "threshold": threshold, "model": analyzer.model_name})
