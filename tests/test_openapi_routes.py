"""/openapi.json and the app's URL map describe the same API, both ways: every route is described and
every description is a route; an operation is open (`security: []`) exactly when webapp/http/auth.py's
open list lets anyone call it, takes the viewer cookie exactly when auth lets that cookie open it, and
documents 429 exactly when it is rate limited (its view runs the model, it asks for a challenge, or it takes a
key, which a stored key's rate limits). No model is loaded."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from webapp import create_app
from webapp.http import auth
from webapp.parts import Parts

# Rate limited without running the model: asking for a challenge counts against the client's limit.
LIMITED_OTHERWISE = {"signin.challenge"}
PATH_NAMES = {"identity_hash": "hash", "person_id": "id"}  # the URL map's variable names, as the spec calls them


@pytest.fixture(scope="module")
def app():
    return create_app(Parts.build(store=None, analyzer=None))


def url_map(app) -> dict[tuple[str, str], str]:
    """(OpenAPI path, method) -> endpoint, for every route but the static files."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + PATH_NAMES.get(m[1], m[1]) + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes[(path, method.lower())] = rule.endpoint
    return routes


def described(spec: dict) -> dict[tuple[str, str], dict]:
    return {(path, method): operation for path, item in spec["paths"].items()
            for method, operation in item.items() if method in ("get", "post", "put", "patch", "delete")}


def test_every_route_is_described_and_every_description_is_a_route(app):
    routes, operations = url_map(app), described(app.test_client().get("/openapi.json").get_json())
    assert sorted(set(routes) - set(operations)) == []  # a route nobody described
    assert sorted(set(operations) - set(routes)) == []  # a description of a route that does not exist


def test_who_may_call_each_operation_is_what_the_server_enforces(app):
    routes, operations = url_map(app), described(app.test_client().get("/openapi.json").get_json())
    for key, endpoint in routes.items():
        operation, view = operations[key], app.view_functions[endpoint]
        is_open = endpoint in auth.OPEN
        assert (operation["security"] == []) == is_open, key
        if not is_open:
            assert "401" in operation["responses"], key
        assert ({"viewerCookie": []} in operation["security"]) == (endpoint in auth.VIEWABLE), key
        # Every guarded operation is rate limited per stored key (webapp/http/auth.py); open ones only by their own.
        limited = bool(getattr(view, "runs_the_model", False)) or endpoint in LIMITED_OTHERWISE or not is_open
        assert ("429" in operation["responses"]) == limited, key


def test_public_signup_opens_sign_up_in_the_description_and_nothing_else(app):
    closed = described(app.test_client().get("/openapi.json").get_json())
    opened = described(create_app(replace(app.extensions["faceapp"], public_signup=True)).test_client()
                       .get("/openapi.json").get_json())
    changed = {key for key in closed if closed[key]["security"] != opened[key]["security"]}
    signup = [key for key, endpoint in url_map(app).items() if endpoint == auth.PUBLIC_SIGNUP]
    assert changed == set(signup) and all(opened[key]["security"] == [] for key in signup)
