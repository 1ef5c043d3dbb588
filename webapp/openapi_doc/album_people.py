"""The album people's splits, hidden people and suggestions in /openapi.json (the other album people
routes are in webapp/routes/openapi.py's ALBUM_PATHS, which this extends)."""
from __future__ import annotations

import copy

from recognition.album.suggestions import MAX_CANDIDATES
from webapp.openapi_doc.parts import BOX, TEXT, error_answers, json_answer
from webapp.routes.album_people import MAX_SPLIT_FACES, MAX_SUGGESTIONS, SUGGESTIONS

FACE_REF = {"type": "object", "required": ["album", "photo", "face"], "properties": {
    "album": TEXT, "photo": TEXT, "face": {"type": "integer", "minimum": 0}},
    "description": "a face as GET /album/people lists it"}
HIDDEN = {"type": "boolean", "description": "a hidden person is not listed (but with ?hidden=1) and album searches "
                                            "do not find a photo by its faces"}
SUGGESTION = {"type": "object", "properties": {
    "face": {"type": "object", "properties": {"album": TEXT, "photo": TEXT, "face": {"type": "integer"}, "box": BOX}},
    "candidates": {"type": "array", "maxItems": MAX_CANDIDATES, "description": "the shown people the face most "
                   "resembles (cosine similarity to each one's mean face), best first, those a little under the "
                   "album threshold or more only",
                   "items": {"type": "object", "properties": {"id": TEXT, "name": {"type": ["string", "null"]},
                                                              "similarity": {"type": "number"}}}}}}


def _face_body(description: str) -> dict:
    return {"required": True, "description": description,
            "content": {"application/json": {"schema": FACE_REF}}}


def album_people_paths(paths: dict, person: dict, person_id: dict) -> dict:
    """The new operations, given the existing paths (whose person schema, listing and PATCH gain 'hidden')."""
    person["properties"]["hidden"] = HIDDEN
    listing = paths["/album/people"]["get"]
    listing["parameters"] = [{"name": "hidden", "in": "query", "schema": {"enum": ["0", "1", "true", "false"]},
                              "description": "1: list the hidden people instead of the shown ones"}]
    patch = paths["/album/people/{id}"]["patch"]
    patch["summary"] = "name the person, link it to an enrolled identity (null clears either), and/or hide it"
    patch["requestBody"] = copy.deepcopy(patch["requestBody"])
    patch["requestBody"]["content"]["application/json"]["schema"]["properties"]["hidden"] = HIDDEN
    return {
        "/album/people/suggestions": {"get": {
            "summary": "faces in no person (after the corrections), each with the shown people it most resembles; "
                       "the surest first. Confirm one with POST /album/people/{id}/faces",
            "parameters": [{"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SUGGESTIONS},
                            "description": f"at most this many faces (default {SUGGESTIONS})"}],
            "responses": {"200": json_answer({"type": "object", "properties": {
                "suggestions": {"type": "array", "items": SUGGESTION}, "state": TEXT}}, "suggestions"),
                **error_answers(400, 404)}}},
        "/album/people/{id}/split": {
            "parameters": [person_id],
            "post": {"summary": "these faces of the person are someone else: a new person (kept through re-indexing); "
                                "at least one face goes and one stays",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["faces"], "properties": {
                             "faces": {"type": "array", "minItems": 1, "maxItems": MAX_SPLIT_FACES,
                                       "items": FACE_REF}}}}}},
                     "responses": {"201": json_answer(person, "the new person"),
                                   **error_answers(400, 401, 404, 409, 413)}}},
        "/album/people/{id}/faces": {
            "parameters": [person_id],
            "post": {"summary": "this face is the person (a suggestion confirmed); kept through re-indexing",
                     "requestBody": _face_body("the face"),
                     "responses": {"200": json_answer(person, "the person with the face"),
                                   **error_answers(400, 401, 404, 409)}}},
        "/album/people/{id}/not": {
            "parameters": [person_id],
            "post": {"summary": "this face, in no person, is not this person: it is not suggested as it again",
                     "requestBody": _face_body("the face"),
                     "responses": {"200": json_answer(person, "the person"), **error_answers(400, 401, 404, 409)}}},
    }
