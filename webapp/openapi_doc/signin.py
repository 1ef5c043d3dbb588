"""The sign-up and sign-in pages' JSON routes in /openapi.json (the pages themselves are HTML)."""
from __future__ import annotations

from webapp.openapi_doc.parts import IMAGE, TEXT, error_answers, json_answer, multipart_body

STEP = {"type": "object", "properties": {"move": TEXT, "passed": {"type": "boolean"}, "moved": {"type": "number"}}}
LIVENESS = {"type": "object", "description": "how the challenge went (absent with --liveness off)", "properties": {
    "passed": {"type": "boolean"}, "reason": TEXT, "moves": {"type": "array", "items": TEXT},
    "steps": {"type": "array", "items": STEP}, "moved": {"type": "number"}, "needed": {"type": "number"},
    "usable_frames": {"type": "integer"}, "same_person": {"type": ["number", "null"]},
    "digest": {"type": "string", "description": "the SHA-256 of the frames: spent, they are refused if sent again"}}}
FRAMES = {"type": "array", "items": {"type": "string", "format": "binary"},
          "description": "camera frames (JPEG, at most 2.1 megapixels each), oldest first, recorded while the person "
                         "made the moves: 6 up to 24 per move asked (the challenge's `frames`)"}
BURST = {"frame": FRAMES, "token": {"type": "string", "description": "the token from POST /signin/challenge"},
         "digest": {"type": "string", "description": "SHA-256 (hex) of the frames, each as its length (8 bytes, "
                                                     "big-endian) then its bytes, in order; good once"},
         "image": {**IMAGE, "description": "one photo instead of frames: only with --liveness off"}}
SIGNED_IN = {"type": "object", "properties": {"id": TEXT, "name": {"type": ["string", "null"]},
                                              "similarity": {"type": "number"}, "liveness": LIVENESS}}

PAGE = {"200": {"description": "HTML", "content": {"text/html": {}}}}

SIGNIN_PATHS = {
    "/signin/challenge": {"post": {
        "summary": "the head movements to ask for, in order, picked at random, with a token good for one try in "
                   "30 s on every server of the installation",
        "description": "A POST with no body (GET answers 405): each challenge counts against the client's limit "
                       "(30 in 5 minutes), and another site's page can make a browser send a GET, never a POST "
                       "the Origin check lets through.",
        "responses": {"200": json_answer({"type": "object", "properties": {
            "liveness": {"enum": ["challenge", "off"]}, "token": TEXT,
            "moves": {"type": "array", "items": {"enum": ["left", "right", "up"]}},
            "prompts": {"type": "array", "items": TEXT}, "frames": {"type": "integer"},
            "seconds": {"type": "number"}, "expires_in": {"type": "number"}}}, "the challenge"),
            **error_answers(403, 429)}}},
    "/signin/look": {"post": {
        "summary": "framing hints for a preview frame: no face, too small, too dark, several faces",
        "requestBody": multipart_body({"frame": IMAGE}, ["frame"]),
        "responses": {"200": json_answer({"type": "object", "properties": {
            "faces": {"type": "integer"}, "ok": {"type": "boolean"}, "hint": {"type": ["string", "null"]},
            "message": TEXT}}, "the hint"), **error_answers(400, 413, 415)}}},
    "/signup": {"get": {"summary": "the sign-up page: your camera, framing hints, the challenge", "responses": PAGE},
                "post": {
        "summary": "sign up with a burst that passed the challenge (or a photo, with --liveness off); starts a session",
        "requestBody": multipart_body({**BURST, "name": TEXT, "email": TEXT}, []),
        "responses": {"201": json_answer(SIGNED_IN, "signed up and in (a session cookie is set)"),
                      **error_answers(400, 401, 403, 409, 413, 415, 422)}}},
    "/signin": {"get": {"summary": "the sign-in page: your camera, framing hints, the challenge", "responses": PAGE},
                "post": {
        "summary": "sign in with a burst that passed the challenge (and, optionally, the email signed up with)",
        "requestBody": multipart_body({**BURST, "email": TEXT}, []),
        "responses": {"200": json_answer(SIGNED_IN, "signed in (a session cookie is set)"),
                      **error_answers(400, 401, 403, 413, 415, 422, 429)}}},
    "/me": {"get": {"summary": "the signed-in person's page: name, hash, registration, sign out, delete me",
                    "responses": {**PAGE, "302": {"description": "nobody is signed in: to /signin"}}}},
    "/signout": {"post": {"summary": "end this browser's session and revoke it: a copy of its cookie opens nothing "
                                     "after",
                          "responses": {"200": json_answer({"type": "object"}, "signed out"), **error_answers(403)}}},
    "/me/delete": {"post": {
        "summary": "erase the signed-in person for good: identity, vectors and email binding",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["confirm"], "properties": {"confirm": {"const": True}}}}}},
        "responses": {"200": json_answer({"type": "object", "properties": {"deleted": TEXT}}, "deleted"),
                      **error_answers(400, 401, 403, 413)}}},
}
