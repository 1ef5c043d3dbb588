"""The cameras' routes in /openapi.json: the list, adding and removing at run time, and each camera's
own stream and /hash (made from the first camera's, which answer without a name)."""
from __future__ import annotations

import copy

from webapp.openapi_doc.parts import ERROR, TEXT, error_answers, json_answer

CAMERA_NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"}
SETTINGS = {"blur": {"enum": ["none", "unknown", "all"]}, "stream_width": {"type": "integer", "minimum": 64,
                                                                          "maximum": 7680},
            "overlay": {"enum": ["boxes", "masks"]}}
CAMERA = {"type": "object", "properties": {
    "name": CAMERA_NAME,
    "camera": {"type": "object", "description": "state (starting, live, offline, stalled, stopped), detail, source "
                                                "(a URL without its user name and password), since"},
    "recognition": {"type": "object", "description": "analysed_per_second, faces_followed"},
    "privacy": {"type": ["object", "null"]}, "fresh": {"type": "boolean"},
    "people": {"type": "array", "items": {"type": "object", "properties": {"hash": TEXT,
                                                                           "name": {"type": ["string", "null"]}}}},
    "faces": {"type": "integer"}, "settings": {"type": "object", "properties": SETTINGS}}}
IN_PATH = {"name": "camera", "in": "path", "required": True, "schema": CAMERA_NAME}


def camera_paths(paths: dict) -> dict:
    """/cameras and friends, and /streaming/{camera} and /hash/{camera} made from paths' unnamed ones."""
    named = {}
    for path in ("/streaming", "/hash"):
        operation = copy.deepcopy(paths[path]["get"])
        operation["summary"] = operation["summary"].replace("camera", "this camera", 1) + " (by the camera's name)"
        operation["parameters"] = [IN_PATH]
        operation["responses"]["404"] = json_answer(ERROR, "no camera of that name")
        named[path + "/{camera}"] = {"get": operation}
    return {
        **named,
        "/cameras": {
            "get": {"summary": "every camera with its status and who is in view; the first answers /streaming and "
                               "/hash without a name; recognition: the cores shared and the turns given",
                    "responses": {"200": json_answer({"type": "object", "properties": {
                        "cameras": {"type": "array", "items": CAMERA},
                        "recognition": {"type": ["object", "null"]}}}, "the cameras")}},
            "post": {"summary": "start watching one more camera (only on a server with --api-key); the others go on",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["name", "source"],
                         "properties": {"name": CAMERA_NAME, "source": {"type": "string", "maxLength": 2048,
                                                                        "description": "webcam index, video file "
                                                                                       "or stream URL"},
                                        **SETTINGS}}}}},
                     "responses": {"201": json_answer(CAMERA, "added and started"),
                                   **error_answers(400, 403, 409)}}},
        "/cameras/{camera}": {"delete": {
            "summary": "stop watching a camera (only on a server with --api-key); its streams end, the others go on",
            "parameters": [IN_PATH],
            "responses": {"200": json_answer({"type": "object", "properties": {"removed": CAMERA_NAME}}, "removed"),
                          **error_answers(403, 404)}}},
        "/cameras/{camera}/snapshot": {"get": {
            "summary": "the camera's newest picture as its viewers see it (blurred and marked alike)",
            "parameters": [IN_PATH],
            "responses": {"200": {"description": "one JPEG", "content": {"image/jpeg": {}}},
                          "404": json_answer(ERROR, "no camera of that name")}}},
    }
