"""/openapi.json: every route, its inputs and its answers, for client generators and the fuzz test."""
from __future__ import annotations

from typing import Any, Sequence

from flask import Blueprint, current_app, jsonify

from webapp.current import parts
from webapp.openapi_doc.album_people import album_people_paths
from webapp.openapi_doc.anonymize import ANONYMIZE_PATHS
from webapp.openapi_doc.cameras import camera_paths
from webapp.openapi_doc.events import EVENTS_PATHS
from webapp.openapi_doc.parts import BOX, ERROR, HASH, IMAGE, TEXT, VECTOR, error_answers, json_answer, multipart_body
from webapp.openapi_doc.scopes import with_scopes
from webapp.openapi_doc.security import PATHS as SECURITY_PATHS, as_served, secure
from webapp.openapi_doc.signin import SIGNIN_PATHS
from webapp.openapi_doc.verify import VERIFY_PATHS, add_limits

bp = Blueprint("openapi", __name__)

IDENTITY = {"type": "object", "properties": {
    "hash": TEXT, "name": {"type": ["string", "null"]}, "model": TEXT, "created": {"type": "number"},
    "vectors": {"type": "integer"}, "registered": {"type": "boolean"},
    "attributes": {"type": ["object", "null"], "description": "age, gender and emotion kept at registration"}}}
ATTRIBUTE = {"type": "object", "properties": {"value": {}, "confidence": {"type": "number"}},
             "description": "only with --attributes"}
ATTRIBUTES = {"age": ATTRIBUTE, "gender": ATTRIBUTE, "emotion": ATTRIBUTE,
              "attributes_error": {"type": "string", "description": "why they are missing, when they are"}}
FACE = {"type": "object", "properties": {
    "hash": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}, "known": {"type": "boolean"},
    "box": BOX, "similarity": {"type": ["number", "null"]},
    "track": {"type": ["integer", "null"], "description": "the same while the face is followed on camera"},
    "visitor": {"type": ["string", "null"], "description": "an unknown face's anonymous id, in memory only"},
    "profile": {"type": "boolean"}, **ATTRIBUTES}}


def _query(name: str, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": TEXT, "description": description}


SECONDS = {"type": "number", "description": "seconds into the video"}
APPEARANCE = {"type": "object", "properties": {
    "at": {"type": "number", "description": "when the face was seen best (its box is that frame's)"},
    "start": {"type": "number", "description": "when it came into view"},
    "end": {"type": "number", "description": "when it was last seen"}, "box": BOX, "similarity": {"type": "number"}}}
MATCHES = json_answer({"type": "object", "properties": {
    "query_faces": {"type": "integer"}, "threshold": {"type": "number"},
    "matches": {"type": "array", "items": {"type": "object", "properties": {
        "album": TEXT, "photo": {"type": "string", "description": "a photo's path (a photo's match)"},
        "video": {"type": "string", "description": "a video's path (a video's match, with at, start, end)"},
        "similarity": {"type": "number"}, "box": BOX, "at": SECONDS, "start": SECONDS, "end": SECONDS,
        "appearances": {"type": "array", "items": APPEARANCE,
                        "description": "a video's: each time the face is in view and matches, best first"}}}}}},
    "photos and videos with the person, best first, each once with its best face (a video's with its appearances)")
PERSON = {"type": "object", "properties": {
    "id": TEXT, "size": {"type": "integer"}, "name": {"type": ["string", "null"]},
    "identity": {"type": ["string", "null"], "description": "the enrolled identity it is linked to"},
    "faces": {"type": "array", "items": {"type": "object", "properties": {
        "album": TEXT, "photo": {"type": "string", "description": "the photo's or video's path"},
        "face": {"type": "integer"}, "box": BOX,
        "video": {"type": "boolean", "description": "true for an appearance in a video, with at, start and end"},
        "at": SECONDS, "start": SECONDS, "end": SECONDS}}}}}
PERSON_ID = {"name": "id", "in": "path", "required": True, "schema": TEXT,
             "description": "a person's id as GET /album/people lists it (stable once named or corrected)"}


def _json_body(properties: dict, required: Sequence[str] = ()) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": list(required)}}}}


THRESHOLD = "cosine similarity from 0 to 1 a face must reach (default: the model's threshold)"
ALBUM_PATHS = {
    "/people": {"get": {"summary": "the people page: everyone enrolled, rename, delete, more photos, the classifier",
                        "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
    "/albums": {"get": {"summary": "the albums page: search by a photo, strictness, preview, people, progress",
                        "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
    "/album": {"get": {"summary": "the albums (--album) and their indexing progress",
                       "responses": {"200": json_answer({"type": "object", "properties": {
                           "albums": {"type": "array", "items": TEXT}, "state": TEXT, "total": {"type": "integer"},
                           "done": {"type": "integer"}, "photos": {"type": "integer"}, "faces": {"type": "integer"},
                           "skipped": {"type": "integer"}}}, "progress"), **error_answers(404)}}},
    "/album/search": {
        "post": {"summary": "the album photos a face is in: the largest face of the photo, or the one named by 'face'",
                 "requestBody": multipart_body({"image": IMAGE, "threshold": {"type": "string",
                                                                              "description": THRESHOLD},
                                            "face": {"type": "string", "description": "0 is the largest face"}},
                                           ["image"]),
                 "responses": {"200": MATCHES, **error_answers(400, 404, 413, 415, 422)}},
        "get": {"summary": "the album photos an enrolled identity is in",
                "parameters": [_query("hash", "identity hash", True), _query("threshold", THRESHOLD)],
                "responses": {"200": MATCHES, **error_answers(400, 404, 409)}}},
    "/album/people": {"get": {
        "summary": "the albums' faces grouped into people, largest first, with the corrections made (a face of a "
                   "photo is never grouped with another face of the same photo); faces in no group are counted",
        "responses": {"200": json_answer({"type": "object", "properties": {
            "people": {"type": "array", "items": PERSON},
            "unassigned": {"type": "integer"}, "state": TEXT}}, "people"), **error_answers(404)}}},
    "/album/people/{id}": {
        "parameters": [PERSON_ID],
        "patch": {"summary": "name the person and/or link it to an enrolled identity (null clears either)",
                  "requestBody": _json_body({"name": {"type": ["string", "null"]},
                                                              "identity": {"type": ["string", "null"]}}),
                  "responses": {"200": json_answer(PERSON, "the person"), **error_answers(400, 401, 404, 409)}},
        "delete": {"summary": "forget what was said about the person (name, link, corrections); the photos stay",
                   "responses": {"200": json_answer({"type": "object", "properties": {"forgotten": TEXT}},
                                                               "forgotten"), **error_answers(401, 404)}}},
    "/album/people/{id}/merge": {
        "parameters": [PERSON_ID],
        "post": {"summary": "this person is the one named by 'into', which keeps its id and name",
                 "requestBody": _json_body({"into": TEXT}, ["into"]),
                 "responses": {"200": json_answer(PERSON, "the merged person"), **error_answers(400, 401, 404, 409)}}},
    "/album/people/{id}/take-out": {
        "parameters": [PERSON_ID],
        "post": {"summary": "this face is not the person: it leaves the group for good",
                 "requestBody": _json_body({"album": TEXT, "photo": TEXT, "face": {"type": "integer"}},
                                           ["album", "photo", "face"]),
                 "responses": {"200": json_answer(PERSON, "the person without the face"), **error_answers(400, 401,
                                                                                                          404, 409)}}},
    "/album/photo": {"get": {
        "summary": "an indexed album photo: the original (its type read from its bytes: JPEG, PNG, WebP, BMP or "
                   "HEIC), or a JPEG with 'box' highlighted (at most 2048 pixels) and at most 'size' pixels",
        "parameters": [_query("album", "the album's name", True),
                       _query("photo", "its path in the album, as the index names it", True),
                       _query("box", "x,y,w,h in the photo's pixels"), _query("size", "16 to 1024 pixels")],
        "responses": {"200": {"description": "the photo", "content": {"image/*": {}}},
                      **error_answers(400, 404, 422)}}},
    "/album/frame": {"get": {
        "summary": "a frame of an indexed album video, as a JPEG decoded in memory: the one at 'at' seconds, "
                   "'box' highlighted (at most 2048 pixels), at most 'size' pixels",
        "parameters": [_query("album", "the album's name", True),
                       _query("video", "its path in the album, as the index names it", True),
                       _query("at", "seconds into the video while a face is in view (within a second of an "
                                    "appearance), as search and the people list give them", True),
                       _query("box", "x,y,w,h in the video's pixels"), _query("size", "16 to 1024 pixels")],
        "responses": {"200": {"description": "the frame", "content": {"image/jpeg": {}}},
                      **error_answers(400, 404, 422),
                      "503": json_answer(ERROR, "busy decoding other frames: try again after Retry-After")}}},
}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Live face recognition", "version": "1.0",
             "description": "Embeddings only, never images. Errors are JSON {\"error\": \"...\"} with a 4xx status. "
                            "Every route answers 421 to a Host that is not one of the server's names, and 403 to a "
                            "request from another site's page (a foreign or null Origin, or Sec-Fetch-Site "
                            "cross-site or same-site other than a link followed). "
                            "With --api-key, every operation needs the key in the X-API-Key header but those marked "
                            "`security: []` (the pages' shells, the sign-in routes, /health, this description); "
                            "routes that run the face model are rate limited per client and per key (429), and "
                            "answer 503 with Retry-After when the server runs as many as it may at once. JSON "
                            "bodies are at most 64 KB (POST /compare_embeddings: 256 KB, POST /faces: 2 MB), "
                            "url-encoded ones 4 MB "
                            "and 64 fields, multipart ones 256 parts and 4 MB a text field (413); any body "
                            "may get 503 with Retry-After while the server holds as many bodies as it may."},
    "components": {
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": TEXT}}},
    },
    "paths": {
        "/": {"get": {"summary": "the page: live stream, who is on camera, enrollment with the 'a' key",
                      "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        "/streaming": {"get": {"summary": "the live MJPEG stream (multipart/x-mixed-replace), one JPEG per frame",
                               "parameters": [{"name": "filter", "in": "query", "required": False,
                                               "schema": {"enum": ["sunglasses", "hat"]},
                                               "description": "a fun filter on the faces the server's --filters "
                                                              "names (known people by default), placed by their "
                                                              "landmarks; each filter's stream is encoded once per "
                                                              "frame for all who watch it"}],
                               "responses": {"200": {"description": "an endless stream",
                                                     "content": {"multipart/x-mixed-replace": {}}},
                                             "400": json_answer(ERROR, "no such filter, or filters are off"),
                                             "503": json_answer(ERROR, "too many viewers")}}},
        "/hash": {"get": {"summary": "who is on camera now: the largest known face's identity hash",
                          "responses": {"200": json_answer({"type": "object", "properties": {
                              "hash": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
                              "faces": {"type": "array", "items": FACE}, "status": {"type": "object", "properties": {
                                  "recognition": {"type": "object", "description": "analysed_per_second (drops when "
                                                  "the machine is short; the stream does not), faces_followed"},
                                  "privacy": {"type": ["object", "null"], "description": "with --blur: the privacy "
                                              "search's detector, running, searches_per_second, faces_hidden, "
                                              "whole_frames (hidden whole: the search could not vouch for them)"}}}}},
                              "now")}}},
        "/enroll": {"post": {
            "summary": "enroll a photo's largest face, or (without a photo) the largest unknown face on camera",
            "requestBody": {"required": False, "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": {"image": IMAGE, "name": TEXT}}},
                "application/json": {"schema": {"type": "object", "properties": {
                    "name": TEXT,
                    "camera": {**TEXT, "description": "the camera to enroll from (the first without)"}}}}}},
            "responses": {"201": json_answer({"type": "object", "properties": {"hash": TEXT,
                                                                               "name": {"type": ["string", "null"]}}},
                                       "enrolled"), **error_answers(400, 401, 404, 409, 413, 415, 422)}}},
        "/faces": {
            "get": {"summary": "every known identity (no vectors), oldest first; offset and limit page through",
                    "parameters": [{"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                                   {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {"200": json_answer({"type": "object", "properties": {
                        "faces": {"type": "array", "items": IDENTITY}, "total": {"type": "integer"},
                        "offset": {"type": "integer"}}}, "identities"), **error_answers(400)}},
            "post": {"summary": "enroll people from embeddings made elsewhere with the same model (at most 1000 a "
                                "request), by the rules of photo enrollment: a face someone already is is not "
                                "enrolled again",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["faces"], "properties": {
                             "model": {"type": "string", "description": "optional: the model the vectors come from"},
                             "faces": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                                 "type": "object", "required": ["embedding"], "additionalProperties": False,
                                 "properties": {"embedding": VECTOR, "name": {"type": ["string", "null"]}}}}}}}}},
                     "responses": {"201": json_answer({"type": "object", "properties": {
                         "created": {"type": "array", "items": {"type": "object", "properties": {
                             "index": {"type": "integer"}, "hash": TEXT, "name": {"type": ["string", "null"]}}}},
                         "existing": {"type": "array", "items": {"type": "object", "properties": {
                             "index": {"type": "integer"}, "hash": TEXT, "similarity": {"type": "number"}}}}}},
                         "what was enrolled, and which faces were already someone"),
                         **error_answers(400, 401, 413, 422), "503": json_answer(ERROR,
                                                                                 "the store cannot be written")}}},
        "/faces/{hash}": {
            "parameters": [HASH],
            "get": {"summary": "one identity, with the age, gender and emotion kept at registration (--attributes)",
                    "responses": {"200": json_answer(IDENTITY, "the identity"), **error_answers(404)}},
            "patch": {"summary": "rename",
                      "requestBody": {"required": True, "content": {"application/json": {"schema": {
                          "type": "object", "properties": {"name": {"type": ["string", "null"]}}}}}},
                      "responses": {"200": json_answer(IDENTITY, "renamed"), **error_answers(400, 401, 404)}},
            "delete": {"summary": "delete the identity and every vector of it, for good",
                       "responses": {"200": json_answer({"type": "object", "properties": {"deleted": TEXT}}, "deleted"),
                                     **error_answers(401, 404)}}},
        "/train_model": {"post": {
            "summary": "train the classifier on everyone with two or more vectors; the method is picked by "
                       "cross-validation and its 'unknown' cut-off calibrated on people left out",
            "responses": {"200": json_answer({"type": "object", "properties": {
                "people": {"type": "integer"}, "vectors": {"type": "integer"}, "method": TEXT,
                "cv_accuracy": {"type": "number"}, "unknown_rejection": {"type": "number"},
                "stale": {"type": "boolean"}}}, "the training report"), **error_answers(401, 409)}}},
        "/predict_face": {"post": {
            "summary": "every face of the photo, named by the trained classifier or unknown",
            "requestBody": multipart_body({"file": IMAGE, "image": IMAGE}, []),
            "responses": {"200": json_answer({"type": "object", "properties": {
                "faces": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": ["string", "null"]}, "hash": {"type": ["string", "null"]},
                    "probability": {"type": "number"}, "known": {"type": "boolean"}, "box": BOX}}},
                "method": TEXT, "stale": {"type": "boolean"}}}, "the faces"),
                **error_answers(400, 409, 413, 415)}}},
        "/faces/{hash}/photos": {
            "parameters": [HASH],
            "post": {"summary": "add photos of this person (one or several files as 'image'): each face is checked, "
                                "then all are added, or none when one is refused",
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "properties": {"image": {"type": "array", "items": IMAGE}},
                         "required": ["image"]}}}},
                     "responses": {"200": json_answer(IDENTITY, "added"), **error_answers(400, 401, 404, 409, 413,
                                                                                          415, 422)}}},
        "/people/import": {"post": {
            "summary": "a zip with a folder of photos per person (Name/photo.jpg): enrolled, or given the photos",
            "requestBody": multipart_body({"zip": {"type": "string", "format": "binary"}}, ["zip"]),
            "responses": {"200": json_answer({"type": "object", "properties": {
                "created": {"type": "array", "items": TEXT}, "updated": {"type": "array", "items": TEXT},
                "added": {"type": "integer"}, "skipped": {"type": "array", "items": {"type": "object"}}}},
                "what was done"), **error_answers(400, 401, 413)}}},
        "/faces/{hash}/not": {
            "parameters": [HASH],
            "post": {"summary": "record a face (a photo, or the one on camera) as not this person",
                     "requestBody": {"required": False, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "properties": {"image": IMAGE}}}}},
                     "responses": {"200": json_answer(IDENTITY, "recorded"), **error_answers(400, 401, 404, 409, 413,
                                                                                             415, 422)}}},
        "/register": {"post": {
            "summary": "register the photo's face; the email is kept only as a keyed hash, bound to one identity "
                       "only: an email bound already is not bound again, and the answer is the same (no oracle)",
            "requestBody": multipart_body({"image": IMAGE, "email": TEXT, "name": TEXT}, ["image"]),
            "responses": {"201": json_answer({"type": "object", "properties": {"id": TEXT, "name": {"type": ["string",
                                                                                                             "null"]}}},
                                       "registered"), **error_answers(400, 401, 409, 413, 415, 422)}}},
        "/login": {"post": {
            "summary": "log in with a new photo (and, optionally, the email registered with)",
            "description": "No liveness check: a photo of a registered person logs in as them. For people in front "
                           "of a camera, use the /signin page, which asks for a head movement (--liveness "
                           "challenge). Failures count toward the same rate limits as the page's (429).",
            "requestBody": multipart_body({"image": IMAGE, "email": TEXT}, ["image"]),
            "responses": {"200": json_answer({"type": "object", "properties": {
                "id": TEXT, "name": {"type": ["string", "null"]}, "similarity": {"type": "number"}}}, "logged in"),
                **error_answers(400, 401, 413, 415, 422, 429)}}},
        "/process-frame": {"post": {
            "summary": "identify the largest face in a frame (a file or a base64 string in 'frame')",
            "requestBody": multipart_body({"frame": {"type": "string", "description": "image file or base64"}},
                                          ["frame"]),
            "responses": {"200": json_answer({"type": "object", "properties": {
                "hash": {"type": ["string", "null"]}, "coords": BOX, "embedding": VECTOR,
                "faces": {"type": "array", "items": FACE}}}, "the largest face"), **error_answers(400, 413, 415,
                                                                                                  422)}}},
        "/extract_embeddings_from_image": {"post": {
            "summary": "one embedding per face in the image (an empty list when there is none)",
            "requestBody": multipart_body({"image": IMAGE}, ["image"]),
            "responses": {"200": json_answer({"type": "object", "properties": {"model": TEXT, "embeddings": {
                "type": "array", "items": {"type": "object", "properties": {"embedding": VECTOR, "box": BOX}}}}},
                "embeddings"), **error_answers(400, 413, 415)}}},
        "/extract_embeddings_from_video": {"post": {
            "summary": "embeddings of faces large, sharp and frontal enough, from a few frames a second",
            "requestBody": multipart_body({"video": {"type": "string", "format": "binary"}}, ["video"]),
            "responses": {"200": json_answer({"type": "object", "properties": {"model": TEXT, "embeddings": {
                "type": "array", "items": {"type": "object", "properties": {
                    "frame": {"type": "integer"}, "time": {"type": "number"}, "box": BOX,
                    "quality": {"type": "number"}, "embedding": VECTOR}}}}}, "embeddings"),
                **error_answers(400, 413, 415)}}},
        "/compare_embeddings": {"post": {
            "summary": "cosine similarity of two embeddings and the decision at the server's threshold",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["embedding1", "embedding2"],
                "properties": {"embedding1": VECTOR, "embedding2": VECTOR}}}}},
            "responses": {"200": json_answer({"type": "object", "properties": {
                "similarity": {"type": "number"}, "match": {"type": "boolean"}, "threshold": {"type": "number"},
                "model": TEXT}}, "the comparison"), **error_answers(400, 413, 422)}}},
        **ALBUM_PATHS,
        **SIGNIN_PATHS,
        **SECURITY_PATHS,
        "/openapi.json": {"get": {"summary": "this description",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {}}}}}},
    },
}


# Every operation that changes the store answers 503 while it cannot be written (a database away, a full
# disk), with Retry-After when it is worth trying again soon.
STORE_WRITES = [("/enroll", "post"), ("/faces", "post"), ("/faces/{hash}", "patch"), ("/faces/{hash}", "delete"),
                ("/faces/{hash}/photos", "post"), ("/faces/{hash}/not", "post"), ("/people/import", "post"),
                ("/register", "post"), ("/signup", "post"), ("/me/delete", "post")]
for _path, _method in STORE_WRITES:
    SPEC["paths"][_path][_method]["responses"].setdefault(
        "503", json_answer(ERROR, "the store cannot be written right now (its database away, a full disk); "
                                  "nothing was changed"))


SPEC["paths"].update(camera_paths(SPEC["paths"]))
SPEC["paths"].update(album_people_paths(SPEC["paths"], PERSON, PERSON_ID))
SPEC["paths"].update(VERIFY_PATHS)
SPEC["paths"].update(ANONYMIZE_PATHS)
SPEC["paths"].update(EVENTS_PATHS)
add_limits(SPEC["paths"])
secure(SPEC)  # who may call what: the key, the viewer cookie, the open list, 401 and 429


@bp.get("/openapi.json")
def openapi_json():
    # Each operation's scope, from the table the guard enforces (webapp/http/scopes.py) and this app's routes.
    return jsonify(with_scopes(as_served(SPEC, public_signup=parts().public_signup), current_app))
