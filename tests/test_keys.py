"""With --api-key, reads are guarded like writes: every route of the app over real HTTP, the open list,
the viewer cookie that lets <img>s show the stream and album photos, the model's rate limits per client
and per key, sign-up opened to the public, and /openapi.json saying all of it."""
from __future__ import annotations

from dataclasses import replace
import re

import cv2
import numpy as np
import pytest
import requests

import tests.test_album_api as album_api
from tests.conftest import client_at, fixture_path, load_photo
from webapp import create_app
from webapp.http.face_gate import FaceGate

KEY = "k3y-for-tests"
album_parts = album_api.album_parts_with_clip  # the album of fixture photos and a video, indexed by the real model


@pytest.fixture
def keyed_album(album_parts, live_server):
    """A server of the album's parts with --api-key, and its app (the same routes as the server's)."""
    app = create_app(replace(album_parts, api_key=KEY))
    return live_server(app), app
# What anyone may call with a key set, written out here rather than read from webapp/http/auth.py, so that
# opening a route is a change this test has to be told about.
OPEN = {("GET", "/"), ("GET", "/people"), ("GET", "/albums"), ("GET", "/signup"), ("GET", "/signin"),
        ("POST", "/signin/challenge"), ("POST", "/signin/look"), ("POST", "/signin"), ("POST", "/signout"),
        ("GET", "/me"), ("POST", "/me/delete"), ("GET", "/health"), ("GET", "/openapi.json"),
        ("GET", "/static/<path:filename>")}

# Every route that runs the model (a detector or the embedder) is rate limited.
MODEL_ROUTES = {("POST", "/signin/look"), ("POST", "/process-frame"), ("POST", "/extract_embeddings_from_image"),
                ("POST", "/extract_embeddings_from_video"), ("POST", "/predict_face"), ("POST", "/album/search"),
                ("GET", "/album/search"), ("POST", "/enroll"), ("POST", "/register"), ("POST", "/login"),
                ("POST", "/faces/<identity_hash>/photos"), ("POST", "/faces/<identity_hash>/not"),
                ("POST", "/people/import"), ("POST", "/signup"), ("POST", "/signin"), ("POST", "/verify"),
                ("POST", "/anonymize")}


def photo_file(relative: str, field: str = "image"):
    return {field: (relative.rsplit("/", 1)[-1], fixture_path("faces/" + relative).read_bytes(), "image/jpeg")}


def jpeg(image) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def routes(app):
    """(method, rule, endpoint) for every route of the app and every method it answers but HEAD/OPTIONS."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.rule, rule.endpoint


def call(server, method, path, *, key=None, session=None, **kwargs):
    headers = {"X-API-Key": key} if key else {}
    response = (session or requests).request(method, server.url + path, headers=headers, timeout=60, stream=True,
                                             allow_redirects=False, **kwargs)
    status = response.status_code
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
    response.close()  # a stream ends here, freeing its viewer slot
    return status, body


def test_every_route_needs_the_key_but_the_open_list(keyed_album, analyzer):
    server, app = keyed_album
    identity = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack").hash
    person = call(server, "GET", "/album/people", key=KEY)[1]["people"][0]["id"]
    reads = {"/album/search": f"?hash={identity}", "/album/photo": "?album=Family&photo=obama/obama1.jpg",
             "/album/frame": "?album=Family&video=clip.avi&at=0.5"}
    opened = set()
    for method, rule, endpoint in routes(app):
        # Reads name the real person, album face and photo (200 expected); changes a made-up one (nothing changes).
        real = method == "GET"
        path = (rule.replace("<identity_hash>", identity if real else "a" * 64)
                .replace("<person_id>", person if real else "nobody").replace("<path:filename>", "app.js")
                .replace("<camera>", "door"))
        path += reads.get(rule, "") if real else ""
        for given in (None, "wrong"):
            status, body = call(server, method, path, key=given)
            if status != 401:
                opened.add((method, rule))
                assert given is None or (method, rule) in OPEN, (method, path, status)
            else:
                assert body["needs_key"] is True and "X-API-Key" in body["error"], (method, path, body)
        status, body = call(server, method, path, key=KEY)
        assert status != 401 and status < 500, (method, path, status, body)
        if real and (method, rule) not in OPEN:
            # Each read answers with the key; this server watches no camera, so a camera's own routes say so.
            assert status == (404 if "<camera>" in rule else 200), (method, path, status, body)
    assert opened == OPEN


def test_open_pages_carry_no_data_and_health_says_nothing_about_people(keyed_album, analyzer):
    server, _ = keyed_album
    analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack")
    for page in ("/", "/people", "/albums"):
        html = requests.get(server.url + page, timeout=10).text
        assert "Family" not in html and "Barack" not in html and 'src="/streaming"' not in html
    health = requests.get(server.url + "/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok", "model": "ready", "camera": "none",
                                                                  "cameras": {}}


def test_the_viewer_cookie_opens_pictures_and_nothing_else(keyed_album, album_parts, services, analyzer, live_server):
    server, _ = keyed_album
    identity = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack").hash
    assert requests.post(server.url + "/auth/viewer", timeout=10).status_code == 401  # the key buys it
    browser = requests.Session()
    bought = browser.post(server.url + "/auth/viewer", headers={"X-API-Key": KEY}, timeout=10)
    assert bought.status_code == 200 and bought.json()["expires_in"] == 600
    cookie = bought.headers["Set-Cookie"]
    assert all(part in cookie for part in ("faceapp_viewer=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=600"))
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    photo = "/album/photo?album=Family&photo=obama/obama2.jpg"
    assert call(server, "GET", "/streaming", session=browser)[0] == 200
    assert call(server, "GET", photo, session=browser)[0] == 200
    assert call(server, "GET", photo + "&size=128&box=10,10,50,50", session=browser)[0] == 200
    assert browser.head(server.url + photo, timeout=10).status_code == 200
    assert call(server, "GET", "/album/frame?album=Family&video=clip.avi&at=0.5", session=browser)[0] == 200
    # Not a JSON read, not a change, not a model route: those need the key itself.
    for method, path in [("GET", "/faces"), ("GET", "/hash"), ("GET", f"/faces/{identity}"), ("GET", "/album/people"),
                         ("DELETE", f"/faces/{identity}"), ("PATCH", f"/faces/{identity}"), ("POST", "/train_model")]:
        assert call(server, method, path, session=browser)[0] == 401, (method, path)
    status, _ = call(server, "POST", "/process-frame", session=browser, files=photo_file("obama/obama2.jpg", "frame"))
    assert status == 401
    assert services.store.get(identity) is not None
    # Altered, or bought with a key the server no longer has: refused.
    value = browser.cookies["faceapp_viewer"]
    expires, mac = value.split(".")
    altered = requests.Session()
    altered.cookies.set("faceapp_viewer", f"{int(expires) + 3600}.{mac}")
    assert call(server, "GET", photo, session=altered)[0] == 401
    server = live_server(create_app(replace(album_parts, api_key="a-new-key")))  # restarted with another key
    assert call(server, "GET", "/streaming", session=browser)[0] == 401
    assert call(server, "GET", photo, session=browser)[0] == 401
    renewed = browser.post(server.url + "/auth/viewer", headers={"X-API-Key": "a-new-key"}, timeout=10)
    assert renewed.status_code == 200 and call(server, "GET", photo, session=browser)[0] == 200


def test_an_expired_viewer_cookie_is_refused(services, live_server):
    from webapp.http import auth

    app = create_app(replace(services, api_key=KEY))
    server = live_server(app)
    with app.test_request_context():
        past, future = auth.viewer_token(1_000_000_000), auth.viewer_token(4_000_000_000)
    for value, status in ((past, 401), (future, 200), ("", 401), ("x.y", 401), ("1" * 40 + ".00", 401)):
        session = requests.Session()
        session.cookies.set("faceapp_viewer", value)
        assert call(server, "GET", "/streaming", session=session)[0] == status, value


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_model_routes_are_rate_limited_per_client_and_per_key(services, live_server):
    from webapp.http.throttle import ModelThrottle

    clock = ManualClock()
    # 8 a minute: a bucket of 2 per client, 8 per key
    server = live_server(create_app(replace(services, throttle=ModelThrottle(8, clock=clock), api_key=KEY)))
    frame = {"frame": ("f.jpg", jpeg(load_photo("obama/obama2.jpg")), "image/jpeg")}
    blank = {"frame": ("f.jpg", jpeg(np.full((240, 320, 3), 128, np.uint8)), "image/jpeg")}
    first = client_at("127.0.0.2")
    for _ in range(2):
        assert call(server, "POST", "/signin/look", session=first, files=frame)[0] == 200
    refused = first.post(server.url + "/signin/look", files=frame, timeout=30)
    assert refused.status_code == 429 and refused.json()["retry_after"] == int(refused.headers["Retry-After"]) == 8
    assert "too many requests to the face model" in refused.json()["error"]
    # Another client is not slowed by it; the first may go on once its bucket refilled.
    assert call(server, "POST", "/signin/look", session=client_at("127.0.0.3"), files=frame)[0] == 200
    clock.now += 8
    assert call(server, "POST", "/signin/look", session=first, files=frame)[0] == 200
    # One key from four clients: its own bucket (8) empties though no client's did ...
    for address in ("127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4"):
        for _ in range(2):
            status, _ = call(server, "POST", "/process-frame", key=KEY, session=client_at(address), files=blank)
            assert status == 422  # no face in a blank frame: the detector ran, and it counted
    fifth = client_at("127.0.1.5")
    keyed = fifth.post(server.url + "/process-frame", files=blank, headers={"X-API-Key": KEY}, timeout=30)
    assert keyed.status_code == 429 and int(keyed.headers["Retry-After"]) >= 1
    # ... while that client may still use the open routes, counted as itself alone.
    assert call(server, "POST", "/signin/look", session=fifth, files=frame)[0] == 200


def test_an_ipv6_client_is_counted_by_its_64(services):
    from webapp.http.throttle import ModelThrottle

    # A bucket of one request per client.
    client = create_app(replace(services, throttle=ModelThrottle(4, clock=ManualClock()))).test_client()

    def look(address):  # an empty form: refused (400), but counted before it is looked at
        return client.post("/signin/look", data={}, environ_base={"REMOTE_ADDR": address}).status_code

    assert look("2001:db8::1") == 400
    assert look("2001:db8::beef") == 429  # the same /64: one household, one client
    assert look("2001:db8:0:1::1") == 400  # another /64
    assert look("::ffff:192.0.2.7") == 400 and look("192.0.2.7") == 429  # IPv4 mapped: the IPv4 client


def test_the_default_limit_leaves_room_for_the_sign_in_page(services):
    from webapp.http.throttle import ModelThrottle

    clock = ManualClock()
    throttle = ModelThrottle(clock=clock)
    # facecam.js asks for framing hints every 0.8 s while the page is open: ten minutes of it, then sign-ins.
    for _ in range(750):
        assert throttle.admit("client:192.0.2.1", None) is None
        clock.now += 0.8
    assert all(throttle.admit("client:192.0.2.1", None) is None for _ in range(10))


def signup_photo(server, relative, *, key=None, **fields):
    return requests.post(server.url + "/signup", files=photo_file(relative), data=fields, timeout=60,
                         headers={"X-API-Key": key} if key else {})


def test_public_signup_opens_sign_up_and_nothing_else(services, live_server, analyzer):
    services = replace(services, api_key=KEY, gate=FaceGate(services.signing_secret, ledger=services.store,
                                                            liveness="off"))
    server = live_server(create_app(services))
    refused = signup_photo(server, "obama/obama1.jpg", name="Barack")
    assert refused.status_code == 401 and refused.json()["needs_key"]  # without --public-signup: the key
    server = live_server(create_app(replace(services, public_signup=True)))  # restarted with --public-signup
    created = signup_photo(server, "obama/obama1.jpg", name="Barack")
    assert created.status_code == 201 and created.cookies.get("faceapp_session")
    identity = created.json()["id"]
    for method, path in [("DELETE", f"/faces/{identity}"), ("GET", "/faces"), ("POST", "/register")]:
        assert requests.request(method, server.url + path, timeout=10).status_code == 401, (method, path)
    assert services.store.get(identity) is not None
    spec = requests.get(server.url + "/openapi.json", timeout=10).json()
    assert spec["paths"]["/signup"]["post"]["security"] == []
    assert spec["paths"]["/faces/{hash}"]["delete"]["security"] == [{"apiKey": []}]


def test_sign_up_with_a_taken_email_answers_as_with_a_new_one(services, live_server):
    gate = FaceGate(services.signing_secret, ledger=services.store, liveness="off")
    server = live_server(create_app(replace(services, gate=gate)))
    rose = signup_photo(server, "rose_leslie/rose1.jpg", name="Rose", email="rose@example.org")
    taken = signup_photo(server, "biden/biden1.jpg", name="Joe", email="rose@example.org")
    new = signup_photo(server, "kit_harington/kit1.jpg", name="Kit", email="kit@example.org")
    assert rose.status_code == taken.status_code == new.status_code == 201
    assert taken.json().keys() == new.json().keys() and "registered" not in taken.text
    store = services.store
    assert store.get(taken.json()["id"]).email_hash is None
    assert store.find_by_email_hash(store.email_hash("rose@example.org")).hash == rose.json()["id"]


def test_the_api_description_says_who_may_call_what(services):
    from webapp.http.auth import OPEN as OPEN_ENDPOINTS

    app = create_app(services)
    spec = app.test_client().get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "X-API-Key"}
    assert schemes["viewerCookie"]["in"] == "cookie" and schemes["viewerCookie"]["name"] == "faceapp_viewer"
    limited = {(method, rule) for method, rule, endpoint in routes(app)
               if getattr(app.view_functions[endpoint], "runs_the_model", False)}
    assert limited == MODEL_ROUTES
    for method, rule, endpoint in routes(app):
        if endpoint == "static":
            continue
        path = re.sub(r"<(\w+)>", lambda m: "{" + {"identity_hash": "hash", "person_id": "id", "camera": "camera"}[m[1]] + "}", rule)
        operation = spec["paths"][path][method.lower()]  # every route is described
        view = app.view_functions[endpoint]
        if getattr(view, "runs_the_model", False):
            assert "429" in operation["responses"], (method, path)
        if endpoint in OPEN_ENDPOINTS:
            assert operation["security"] == [], (method, path)
        else:
            assert {"apiKey": []} in operation["security"] and "401" in operation["responses"], (method, path)
            assert ({"viewerCookie": []} in operation["security"]) == (path in (
                "/streaming", "/streaming/{camera}", "/cameras/{camera}/snapshot", "/album/photo", "/album/frame"))


def test_settings():
    from config import parse_config

    assert parse_config([], env={}).server.model_rate == 120 and not parse_config([], env={}).accounts.public_signup
    assert parse_config(["--public-signup"], env={}).accounts.public_signup
    assert parse_config([], env={"FACE_PUBLIC_SIGNUP": "1", "FACE_MODEL_RATE": "0"}).accounts.public_signup
    assert parse_config(["--model-rate", "30"], env={}).server.model_rate == 30
    with pytest.raises(SystemExit):
        parse_config(["--model-rate", "-1"], env={})


# Which scope each route needs, written out here rather than read from webapp/http/scopes.py, so that changing a
# route's scope is a change this test has to be told about. A route named neither here nor in OPEN needs admin.
SCOPED = {
    "read": {("GET", "/hash"), ("GET", "/hash/<camera>"), ("GET", "/streaming"), ("GET", "/streaming/<camera>"),
             ("GET", "/cameras"), ("GET", "/cameras/<camera>/snapshot"), ("GET", "/faces"),
             ("GET", "/faces/<identity_hash>"), ("GET", "/album"), ("GET", "/album/photo"), ("GET", "/album/frame"),
             ("GET", "/album/people"),
             ("GET", "/album/people/suggestions"), ("POST", "/auth/viewer"), ("GET", "/events"), ("GET", "/metrics")},
    "recognize": {("POST", "/process-frame"), ("POST", "/predict_face"), ("POST", "/extract_embeddings_from_image"),
                  ("POST", "/extract_embeddings_from_video"), ("POST", "/compare_embeddings"), ("POST", "/verify"),
                  ("POST", "/login"), ("POST", "/album/search"), ("GET", "/album/search"), ("POST", "/anonymize")},
    "enroll": {("POST", "/enroll"), ("POST", "/register"), ("POST", "/faces"), ("PATCH", "/faces/<identity_hash>"),
               ("DELETE", "/faces/<identity_hash>"), ("POST", "/faces/<identity_hash>/photos"),
               ("POST", "/faces/<identity_hash>/not"), ("POST", "/people/import"), ("POST", "/train_model"),
               ("POST", "/signup"), ("PATCH", "/album/people/<person_id>"), ("POST", "/album/people/<person_id>/merge"),
               ("POST", "/album/people/<person_id>/take-out"), ("DELETE", "/album/people/<person_id>"),
               ("POST", "/album/people/<person_id>/split"), ("POST", "/album/people/<person_id>/faces"),
               ("POST", "/album/people/<person_id>/not")},
}


def test_every_operation_names_the_scope_it_needs_and_the_rest_need_admin(services):
    from webapp.http import scopes
    from webapp.openapi_doc.scopes import openapi_path

    app = create_app(services)
    spec = app.test_client().get("/openapi.json").get_json()
    expected = {route: scope for scope, named in SCOPED.items() for route in named}
    admin_only = set()
    for method, rule, endpoint in routes(app):
        if (method, rule) in OPEN:
            continue
        scope = expected.get((method, rule), "admin")
        assert scopes.needed(endpoint) == scope, (method, rule)
        operation = spec["paths"][openapi_path(rule)][method.lower()]
        assert operation["x-scope"] == scope and f"`{scope}` scope" in operation["description"], (method, rule)
        assert {"403", "429"} <= operation["responses"].keys(), (method, rule)
        admin_only |= {(method, rule)} if scope == "admin" else set()
    assert {("POST", "/cameras"), ("DELETE", "/cameras/<camera>")} <= admin_only
    assert all("x-scope" not in spec["paths"][openapi_path(rule)][method.lower()]
               for method, rule in OPEN if rule != "/static/<path:filename>")


def test_a_scope_table_naming_no_route_is_refused(services, monkeypatch):
    from types import MappingProxyType

    from webapp.http import scopes

    monkeypatch.setattr(scopes, "NEEDS", MappingProxyType({**scopes.NEEDS, "people.lsit_faces": "read"}))
    with pytest.raises(RuntimeError, match="people.lsit_faces"):
        create_app(services)
