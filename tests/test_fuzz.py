"""The API fuzzed from its own /openapi.json over real HTTP, plus a list of malformed requests: 4xx JSON only."""
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import client_at
from webapp.routes.openapi import SPEC

# Endless by design: the stream, and the events (their bad parameters are tests/test_events.py's).
schema = schemathesis.openapi.from_dict(SPEC).exclude(path="/streaming").exclude(path="/events")


@pytest.fixture(scope="module")
def fuzz_server(detector, aligner, embedder, tmp_path_factory):
    """One real server for the whole fuzz run, with the real model and a store of its own."""
    from recognition.pipeline.analyzer import FaceAnalyzer
    from recognition.matching.matcher import Matcher
    from tests.conftest import LiveServer, open_store
    from webapp import create_app
    from webapp.parts import Parts

    store = open_store(tmp_path_factory.mktemp("fuzz"))
    from webapp.http.throttle import ModelThrottle

    # No rate limit: hundreds of cases from one address would mostly be answered 429 before their
    # input is looked at, which is what this test is about (tests/test_keys.py tests the limits).
    services = Parts.build(store=store, analyzer=FaceAnalyzer(detector, aligner, embedder, Matcher(store, "Dlib")),
                        throttle=ModelThrottle(0))
    server = LiveServer(create_app(services))
    yield server
    server.close()
    store.close()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, fuzz_server):
    response = case.call(base_url=fuzz_server.url, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lower-case names, lists
        assert content_type.startswith("application/json"), (
            case.method, case.path, response.status_code, dict(response.headers), response.text[:200])
        assert isinstance(response.json().get("error"), str)


MALFORMED = [
    ("post", "/enroll", {"data": b"\x00\x01garbage", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}),
    ("post", "/enroll", {"data": "{", "headers": {"Content-Type": "application/json"}}),
    ("post", "/enroll", {"json": {"name": ["not", "text"]}}),
    ("post", "/register", {"files": {"image": ("x.jpg", b"")}}),
    ("post", "/register", {"files": {"image": ("x.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100)}}),  # a JPEG header, then nothing
    ("post", "/login", {"files": {"image": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)}}),
    ("post", "/login", {"data": {"image": "bm90IGFuIGltYWdl"}}),  # base64 of "not an image"
    ("post", "/process-frame", {"files": {"frame": ("x.gif", b"GIF89a" + b"\x00" * 20)}}),
    ("post", "/process-frame", {"data": {"frame": "===="}}),
    ("post", "/extract_embeddings_from_image", {"files": {"image": ("big.png", b"\x89PNG" * 10)}}),
    ("post", "/extract_embeddings_from_video", {"files": {"video": ("v.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)}}),
    ("post", "/compare_embeddings", {"data": '{"embedding1": [NaN], "embedding2": [Infinity]}',
                                     "headers": {"Content-Type": "application/json"}}),
    ("post", "/compare_embeddings", {"data": '{"embedding1": [1e400], "embedding2": [0]}',
                                     "headers": {"Content-Type": "application/json"}}),
    ("post", "/compare_embeddings", {"data": "x" * 10_000}),
    # Nesting too deep for the parser (a RecursionError inside it) is "not JSON", not a 500.
    ("post", "/compare_embeddings", {"data": "[" * 100_000 + "]" * 100_000, "headers": {"Content-Type": "application/json"}}),
    ("post", "/faces", {"data": '{"faces": ' + "[" * 50_000 + "]" * 50_000 + "}",
                        "headers": {"Content-Type": "application/json"}}),
    ("post", "/enroll", {"data": '{"name": ' + "{\"a\": " * 50_000 + "1" + "}" * 50_001,
                         "headers": {"Content-Type": "application/json"}}),
    ("post", "/faces", {"json": {"faces": [{"embedding": "not a list"}]}}),
    ("post", "/faces", {"json": {"faces": [{"embedding": [0.1] * 128, "hash": "chosen by the client"}]}}),
    ("post", "/faces", {"json": {"faces": {"embedding": [0.1] * 128}}}),
    ("patch", "/faces/" + "z" * 64, {"json": {"name": "x"}}),
    ("delete", "/faces/..%2F..%2Fetc", {}),
    ("post", "/faces/%00/not", {}),
    ("get", "/no-such-route", {}),
    ("put", "/hash", {}),
    ("post", "/enroll", {"data": b"x" * (17 * 1024 * 1024), "headers": {"Content-Type": "application/octet-stream"}}),
]


def test_malformed_requests_get_4xx_json_and_the_server_keeps_serving(fuzz_server):
    for method, path, kwargs in MALFORMED:
        response = requests.request(method, fuzz_server.url + path, timeout=60, **kwargs)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text[:200])
        assert response.headers.get("Content-Type", "").startswith("application/json"), (
            method, path, response.status_code, response.text[:200])
        assert isinstance(response.json()["error"], str), (method, path)
    assert requests.get(fuzz_server.url + "/hash", timeout=10).status_code == 200


def test_an_enormous_image_is_refused_before_it_is_decoded(fuzz_server):
    import cv2
    import numpy as np

    ok, png = cv2.imencode(".png", np.zeros((8000, 8000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok and len(png) < 1024 * 1024  # small on the wire, 64 megapixels once decoded
    # From a client of its own: the fuzzing above failed at /register often enough to be slowed (429).
    response = client_at("127.0.0.2").post(fuzz_server.url + "/register", files={"image": ("huge.png", png.tobytes())},
                                           timeout=60)
    # 413: an image we read, too large (a 415 is for what we do not read), said before any decode
    assert response.status_code == 413 and "is too large: the PNG image is 8000x8000" in response.json()["error"]
