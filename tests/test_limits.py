"""The limits that keep requests within memory, as a client meets them over real HTTP: the model's
slots (503 with Retry-After), the body budget (chunked bodies too), and what still fits under the
body limits (a full batch of vectors). The memory each one saves is measured in tests/test_bombs.py."""
from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import requests

from tests.conftest import fixture_path, wait_until
from tests.memory_server import MB
from webapp import create_app



def test_a_model_request_that_finds_no_slot_free_gets_503_with_retry_after(services, live_server):
    from webapp.http.throttle import ModelSlots

    services.throttle.slots = slots = ModelSlots(1, wait=0.2)
    server = live_server(create_app(services))
    frame = {"frame": ("f.jpg", fixture_path("faces/obama/obama1.jpg").read_bytes())}
    assert slots.acquire()  # another request runs the model
    try:
        busy = requests.post(server.url + "/process-frame", files=frame, timeout=30)
    finally:
        slots.release()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2" and busy.json()["retry_after"] == 2
    assert "busy with 1 requests to the face model" in busy.json()["error"]
    assert requests.post(server.url + "/process-frame", files=frame, timeout=30).status_code == 200
    # Requests that do not run the model never wait for a slot.
    assert slots.acquire()
    try:
        assert requests.get(server.url + "/faces", timeout=30).status_code == 200
    finally:
        slots.release()


def test_slots_let_as_many_wait_as_run_and_refuse_the_rest_at_once():
    from webapp.http.throttle import ModelSlots

    slots = ModelSlots(1, wait=0.0)
    assert slots.acquire() and not slots.acquire()  # the one waiter gives up at once (wait 0)
    slots.release()
    assert slots.acquire()
    slots.release()
    with pytest.raises(ValueError):
        ModelSlots(0)


def raw_post(port: int, head: bytes, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + b"\r\n" + body)
    return sock


def status_line(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    try:
        return sock.recv(300).split(b"\r\n")[0]
    except OSError:
        return b""


def test_a_chunked_body_is_counted_against_the_budget_as_it_arrives(services, live_server):
    """With 1 MB uploads the budget is 8 MB: four unfinished 1.9 MB bodies hold it, and a chunked body
    (no declared length) is refused as its chunks come, before the first is done."""
    server = live_server(create_app(services, max_upload=MB))
    port = int(server.url.rsplit(":", 1)[1])
    head = b"POST /faces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    held = [raw_post(port, head + b"Content-Length: %d\r\n" % (19 * MB // 10), bytes(MB)) for _ in range(4)]
    budget = server._server.body_budget
    try:
        assert wait_until(lambda: budget.held() == 4 * (19 * MB // 10), timeout=30)  # their headers were read
        chunk = b"%x\r\n%s\r\n" % (MB // 2, b" " * (MB // 2))
        chunked = raw_post(port, head + b"Transfer-Encoding: chunked\r\n", chunk * 2)
        assert status_line(chunked) == b"HTTP/1.1 503 Service Unavailable"
        chunked.close()
    finally:
        for sock in held:
            sock.close()
    # Once those are gone, a chunked body is taken, and read by the route: 400, it names no faces.
    assert wait_until(lambda: budget.held() == 0, timeout=30)
    chunks = b'11\r\n{"faces": [], "x"\r\n2\r\n:1\r\n1\r\n}\r\n0\r\n\r\n'
    done = raw_post(port, head + b"Transfer-Encoding: chunked\r\n", chunks)
    try:
        assert status_line(done).split()[1] == b"400"
    finally:
        done.close()


def test_a_full_batch_of_vectors_as_this_server_writes_them_fits_the_body_limit(services, live_server):
    """1,000 faces of 128 values at 7 decimals (as /extract_* write them) with 100-character names: under
    the 2 MB POST /faces takes."""
    server = live_server(create_app(services))
    vectors = np.random.default_rng(7).normal(size=(1000, 128))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faces = [{"embedding": [round(float(x), 7) for x in v], "name": f"{n:04d}" + "x" * 96}
             for n, v in enumerate(vectors)]
    data = json.dumps({"model": "Dlib", "faces": faces}).encode()
    assert 1.5 * MB < len(data) < 2 * MB
    answer = requests.post(server.url + "/faces", data=data, headers={"Content-Type": "application/json"}, timeout=300)
    assert answer.status_code == 201 and len(answer.json()["created"]) + len(answer.json()["existing"]) == 1000


def test_an_url_encoded_name_field_still_works(services, live_server):
    """curl -d sends a few fields url-encoded: they are read as before, but not thousands of them."""
    server = live_server(create_app(services))
    answer = requests.post(server.url + "/enroll", data={"name": "A" * 101}, timeout=30)
    assert answer.status_code == 400 and "longer than 100 characters" in answer.json()["error"]  # read
    answer = requests.post(server.url + "/enroll", data={"name": "Ada"}, timeout=30)
    assert answer.status_code == 409 and "no camera" in answer.json()["error"]
    long_name = requests.post(server.url + "/enroll", data={"name": "A" * 20_000}, timeout=30)
    assert long_name.status_code == 400 and "longer than 100 characters" in long_name.json()["error"]
    many = requests.post(server.url + "/enroll", data=[("name", "")] * 100, timeout=30)
    assert many.status_code == 413 and "at most 64 fields (this one holds 100)" in many.json()["error"]


def test_the_model_slots_setting():
    from config import parse_config

    assert parse_config([], env={}).server.model_slots == 0  # the number of cores
    assert parse_config(["--model-slots", "3"], env={}).server.model_slots == 3
    assert parse_config([], env={"FACE_MODEL_SLOTS": "4"}).server.model_slots == 4
    for wrong in ("-1", "two", "5000"):
        with pytest.raises(SystemExit):
            parse_config(["--model-slots", wrong], env={})


def test_the_body_limits_name_real_routes_and_leave_room_for_the_largest_burst(services):
    from recognition.liveness.burst import MAX_FRAMES
    from webapp.http.bodies import FORM_PARTS, LARGE_JSON

    assert set(LARGE_JSON) <= set(create_app(services).view_functions)  # a typo would leave a route at 64 KB
    assert FORM_PARTS >= MAX_FRAMES + 8  # every frame of a burst, its token, digest, name and email


def test_two_vectors_of_a_large_model_fit_compare_embeddings(services, live_server):
    """VGG-Face's 4,096 values, twice, written at full precision: 180 KB, over the 64 KB of other JSON."""
    server = live_server(create_app(services))
    first, second = (np.random.default_rng(seed).normal(size=4096).tolist() for seed in (1, 2))
    data = json.dumps({"embedding1": first, "embedding2": second}).encode()
    assert len(data) > 150_000
    answer = requests.post(server.url + "/compare_embeddings", data=data, headers={"Content-Type": "application/json"},
                           timeout=30)
    assert answer.status_code == 422 and "makes vectors of 128" in answer.json()["error"]  # read: the server runs Dlib
