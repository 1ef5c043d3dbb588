"""Who may call what, in /openapi.json: the key's and the viewer cookie's schemes, each operation's
`security` (`[]` on the open list), its 401 and, on the routes that run the model, its 429 and 503.

The tables name OpenAPI paths; tests/test_keys.py checks them against the app's own routes and
webapp/http/auth.py's open list, so the description cannot drift from what the server does.
"""
from __future__ import annotations

import copy

from webapp.http.auth import HEADER, VIEWER_COOKIE, VIEWER_SECONDS
from webapp.openapi_doc.parts import ERROR, json_answer

SCHEMES = {
    "apiKey": {"type": "apiKey", "in": "header", "name": HEADER,
               "description": "the server's --api-key (an admin key), or a key made with `python -m tools.keys "
                              "create`, which may call the operations of its scopes (each operation's `x-scope`: "
                              "read, recognize, enroll or admin; admin may call all); needed by every operation "
                              "not marked `security: []` when the server has a key (without one, it listens on "
                              "loopback only)"},
    "viewerCookie": {"type": "apiKey", "in": "cookie", "name": VIEWER_COOKIE,
                     "description": f"bought with the key at POST /auth/viewer, good for {VIEWER_SECONDS} s, for "
                                    "GET of the pictures an <img> shows (the stream, album photos) only"},
}
OPEN = frozenset({("/", "get"), ("/people", "get"), ("/albums", "get"), ("/signup", "get"), ("/signin", "get"),
        ("/signin/challenge", "post"), ("/signin/look", "post"), ("/signin", "post"), ("/signout", "post"),
        ("/me", "get"), ("/me/delete", "post"), ("/health", "get"), ("/openapi.json", "get")})
PUBLIC_SIGNUP = ("/signup", "post")  # open with --public-signup
VIEWABLE = frozenset({("/streaming", "get"), ("/streaming/{camera}", "get"), ("/cameras/{camera}/snapshot", "get"),
                      ("/album/photo", "get"), ("/album/frame", "get")})
MODEL = frozenset({("/enroll", "post"), ("/register", "post"), ("/login", "post"), ("/signin/look", "post"),
         ("/signup", "post"), ("/signin", "post"), ("/process-frame", "post"),
         ("/extract_embeddings_from_image", "post"), ("/extract_embeddings_from_video", "post"),
         ("/predict_face", "post"), ("/album/search", "post"), ("/album/search", "get"),
         ("/faces/{hash}/photos", "post"), ("/faces/{hash}/not", "post"), ("/people/import", "post"),
         ("/verify", "post"), ("/anonymize", "post")})
METHODS = ("get", "post", "put", "patch", "delete")

PATHS = {
    "/health": {"get": {
        "summary": "whether the server is up: the model process's state, the first camera's and how many cameras "
                   "are in each state; nothing about people",
        "responses": {"200": json_answer({"type": "object", "properties": {
            "status": {"const": "ok"}, "model": {"type": "string"}, "camera": {"type": "string"},
            "cameras": {"type": "object", "additionalProperties": {"type": "integer"}}}}, "up")}}},
    "/auth/viewer": {"post": {
        "summary": "a viewer cookie for this browser's <img>s (the stream, album photos), bought with the key",
        "description": f"Sets {VIEWER_COOKIE} (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS), signed and "
                       f"bound to the key (a changed key voids it), good for {VIEWER_SECONDS} s and for GET/HEAD "
                       "of /streaming and /album/photo only: never a change, nor a JSON read.",
        "responses": {"200": json_answer({"type": "object", "properties": {"expires_in": {"type": "integer"}}},
                                         "the cookie is set")}}},
}


def secure(spec: dict) -> dict:
    """spec with the schemes and each operation's security and answers, as a server with a key runs."""
    spec["components"]["securitySchemes"] = SCHEMES
    limited = "too many requests to the face model from this client or key (or failed sign-ins): wait the " \
              "seconds in Retry-After"
    busy = "the server is busy with other requests to the face model (--model-slots): wait the seconds in Retry-After"
    for path, item in spec["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            if (path, method) in MODEL:
                answers["429"] = json_answer(ERROR, limited)
                store = answers.get("503", {}).get("description")
                answers["503"] = json_answer(ERROR, "; or ".join(filter(None, [store, busy])))
            if (path, method) in OPEN:
                operation["security"] = []
                continue
            operation["security"] = [{"apiKey": []}] + ([{"viewerCookie": []}] if (path, method) in VIEWABLE else [])
            answers.setdefault("401", json_answer(ERROR, "the API key is missing or wrong (`needs_key`: true)"))
    signup = spec["paths"]["/signup"]["post"]
    signup["description"] = " ".join(filter(None, [signup.get("description"), "Open without the key when the server "
                                                                             "runs with --public-signup."]))
    return spec


def as_served(spec: dict, *, public_signup: bool) -> dict:
    """The description as this server runs: with --public-signup, POST /signup needs no key."""
    if not public_signup:
        return spec
    served = copy.deepcopy(spec)
    served["paths"]["/signup"]["post"]["security"] = []
    return served
