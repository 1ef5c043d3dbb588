"""POST /verify and the 'limit' of the photo routes in /openapi.json: 1:1 verification, and the closest
enrolled people of each face (CompreFace's prediction_count) beside the name the per-person bar gives."""
from __future__ import annotations

import copy

from recognition.album.search import MAX_MATCHES as MAX_PHOTOS
from webapp.http.inputs import MAX_CANDIDATES
from webapp.openapi_doc.parts import BOX, IMAGE, TEXT, error_answers, json_answer

FACE_NUMBER = {"type": "string", "description": "which face of that photo: 0 (the default) is the largest"}
COMPARED = {"type": "object", "properties": {
    "count": {"type": "integer", "description": "faces found in the photo"},
    "face": {"type": "integer", "description": "the one compared (0 is the largest)"},
    "box": BOX}}

VERIFY_PATHS = {"/verify": {"post": {
    "summary": "whether two photos show the same person, or a photo shows an enrolled identity (1:1)",
    "description": "Send 'image1' and 'image2', or 'image' and 'hash'; any other combination is a 400 that says "
                   "which fields came. The largest face of each photo is compared (or the one 'face1', 'face2', "
                   "'face' names). Two photos: the similarity is /compare_embeddings' of their two faces, at the "
                   "model's threshold (threshold_source 'model'). A photo and an identity: its best similarity to "
                   "that person's vectors, at that person's own bar, which rises with their distinct looks "
                   "(threshold_source 'person'), as naming does; a face closer to one marked 'not this person' "
                   "is never verified. The answer never names anyone (GET /faces/{hash} does, to who may read "
                   "it). Nothing sent is kept.",
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {
            "image1": IMAGE, "image2": IMAGE, "image": IMAGE,
            "hash": {"type": "string", "description": "an enrolled identity's hash (with 'image')"},
            "face1": FACE_NUMBER, "face2": FACE_NUMBER, "face": FACE_NUMBER}}}}},
    "responses": {
        "200": json_answer({"type": "object", "properties": {
            "verified": {"type": "boolean"}, "similarity": {"type": "number", "description": "cosine similarity"},
            "threshold": {"type": "number"}, "threshold_source": {"enum": ["model", "person"]},
            "model": TEXT,
            "faces": {"type": "object", "description": "per photo field (image1 and image2, or image): the faces "
                                                       "found and the one compared",
                      "additionalProperties": COMPARED}}}, "the verdict"),
        **error_answers(400, 404, 409, 413, 415, 422)}}}}

LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_CANDIDATES,
         "description": f"list each face's closest enrolled people, at most this many (1 to {MAX_CANDIDATES}); "
                        "without it, no list"}
CANDIDATES = {"type": "array", "description": "with 'limit': the closest enrolled people, closest first, among "
                                              "those at the model's threshold or more (a stranger's list is empty). "
                                              "One may be under their own bar, or named for another face, and "
                                              "still be listed: the name is decided as without 'limit'",
              "items": {"type": "object", "properties": {"hash": TEXT, "name": {"type": ["string", "null"]},
                                                         "similarity": {"type": "number"}}}}


def add_limits(paths: dict) -> None:
    """'limit' on /process-frame, /predict_face and POST /album/search, and what it adds to their answers."""
    for path in ("/process-frame", "/predict_face"):
        operation = paths[path]["post"]
        operation["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["limit"] = LIMIT
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        answer["faces"] = copy.deepcopy(answer["faces"])  # FACE is shared with /hash, which lists no candidates
        answer["faces"]["items"]["properties"]["candidates"] = CANDIDATES
        if path == "/process-frame":
            answer["candidates"] = CANDIDATES  # the largest face's, beside its hash
    search = paths["/album/search"]["post"]
    search["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["limit"] = {
        "type": "integer", "minimum": 1, "maximum": MAX_PHOTOS,
        "description": f"answer only the best this many photos (1 to {MAX_PHOTOS}; without it, up to {MAX_PHOTOS}): "
                       "the matches are photos, best first, so this keeps the top of the same list"}
