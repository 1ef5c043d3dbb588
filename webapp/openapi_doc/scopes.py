"""The scope each operation needs, in /openapi.json: `x-scope`, a sentence in its description, and the
403 and 429 a key can get. Derived from the app's own URL map and webapp/http/scopes.py's table, the one
the guard enforces, so the description cannot say other than the server does."""
from __future__ import annotations

import copy
import re

from flask import Flask

from webapp.http import auth, scopes
from webapp.openapi_doc.parts import ERROR, json_answer

CACHE = "faceapp.openapi_scoped"
# Flask's path variables as the description names them.
RENAMED = {"identity_hash": "hash", "person_id": "id"}
LACKS = "the key lacks the scope this needs (`needs_scope` names it)"
TOO_MANY = ("too many requests with this key (its rate, set by `python -m tools.keys create --rate`): wait the "
            "seconds in Retry-After")


def openapi_path(rule: str) -> str:
    """/faces/<identity_hash> -> /faces/{hash}."""
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: "{" + RENAMED.get(m[1], m[1]) + "}", rule)


def operations(app: Flask):
    """(path, method, endpoint) of every route of app but the static files, methods in lower case."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield openapi_path(rule.rule), method.lower(), rule.endpoint


def with_scopes(spec: dict, app: Flask) -> dict:
    """A copy of spec in which every operation a key is needed for names its scope (made once per app
    and spec)."""
    cached = app.extensions.get(CACHE)
    if cached is not None and cached[0] is spec:
        return cached[1]
    scoped = copy.deepcopy(spec)
    for path, method, endpoint in operations(app):
        operation = scoped["paths"].get(path, {}).get(method)
        if operation is None or endpoint in auth.OPEN:
            continue
        scope = scopes.needed(endpoint)
        operation["x-scope"] = scope
        also = "" if scope == scopes.ADMIN else " (or `admin`)"
        sentence = f"Needs a key with the `{scope}` scope{also}."
        operation["description"] = " ".join(filter(None, [operation.get("description"), sentence]))
        answers = operation.setdefault("responses", {})
        for status, text in (("403", LACKS), ("429", TOO_MANY)):
            before = answers.get(status, {}).get("description")
            answers[status] = json_answer(ERROR, "; or ".join(filter(None, [before, text])))
    app.extensions[CACHE] = (spec, scoped)
    return scoped
