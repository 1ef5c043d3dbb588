"""A burst is good once, everywhere: the review's replays, each refused now. The same frames with a fresh
token, the frames played backwards, the way back from a right turn offered as a left turn, a recording
of one move where two are asked, frames that are not the ones their digest names, a tried token at a
second server on the same database and at the same server after a restart, and a cookie copied before
sign-out."""
from __future__ import annotations

import io

import pytest
import requests

from tests.conftest import open_store
from tests.footage import moves_footage, turning_frames
from tests.test_signin_api import digest_of, jpeg_bytes, make_client, send_burst, session_cookie


@pytest.fixture(scope="module")
def turning():
    return turning_frames()


@pytest.fixture
def web(services, pose_model):
    return make_client(services, pose_model)  # one move: "right", the one the clip's man makes


def test_the_same_frames_with_a_fresh_token_are_refused(web, turning):
    first = send_burst(web, "/signup", turning, name="Turning man")
    assert first.status_code == 201
    web.post("/signout")
    again = send_burst(web, "/signin", turning)  # a fresh token, the frames that signed up
    assert again.status_code == 400 and "sent before" in again.get_json()["error"]
    assert web.get("/me").status_code == 302


def test_the_way_back_from_a_right_turn_does_not_answer_left(services, pose_model, turning):
    web = make_client(services, pose_model, moves=("left",))
    for frames in (turning, turning[::-1]):  # the review's "left" and the frames played backwards
        response = send_burst(web, "/signup", frames)
        assert response.status_code == 422, response.get_json()
        assert "did not move as asked" in response.get_json()["error"]
        assert response.get_json()["liveness"]["moved"] < 0.2


def test_two_moves_in_the_asked_order_sign_up_and_one_move_does_not(services, pose_model, analyzer, turning):
    web = make_client(services, pose_model, moves=("left", "right"), steps=2)
    asked = web.get("/signin/challenge").get_json()
    assert sorted(asked["moves"]) == ["left", "right"] and asked["frames"] == 48 and asked["seconds"] == 4.8
    one_move = send_burst(web, "/signup", turning, token=asked["token"])
    assert one_move.status_code == 422 and "move" in one_move.get_json()["error"]
    asked = web.get("/signin/challenge").get_json()
    reordered = moves_footage(asked["moves"][::-1], analyzer.detector)[1:]  # [1:]: not the frames sent next
    wrong_order = send_burst(web, "/signup", reordered, token=asked["token"])
    assert wrong_order.status_code == 422 and "move 2 of 2" in wrong_order.get_json()["error"]
    asked = web.get("/signin/challenge").get_json()
    made = send_burst(web, "/signup", moves_footage(asked["moves"], analyzer.detector), token=asked["token"],
                      name="Turning man")
    assert made.status_code == 201, made.get_json()
    assert [s["move"] for s in made.get_json()["liveness"]["steps"]] == asked["moves"]


def test_frames_that_are_not_the_ones_their_digest_names_are_refused(web, turning):
    encoded = [jpeg_bytes(frame) for frame in turning]
    other = digest_of(encoded[:-1] + [encoded[-1] + b"\0"])  # one byte more in the last frame
    refused = send_burst(web, "/signup", turning, digest=other)
    assert refused.status_code == 400 and "not the ones the digest names" in refused.get_json()["error"]
    missing = web.post("/signup", data={"token": web.get("/signin/challenge").get_json()["token"],
                                        "frame": [(io.BytesIO(body), "f.jpg") for body in encoded]})
    assert missing.status_code == 400 and "digest" in missing.get_json()["error"]
    reordered = send_burst(web, "/signup", turning, digest=digest_of(encoded[::-1]))
    assert reordered.status_code == 400
    assert send_burst(web, "/signup", turning).status_code == 201  # the same frames, named right: not spent by those


def test_a_copy_of_the_cookie_taken_before_sign_out_opens_nothing_after(services, pose_model, turning):
    web = make_client(services, pose_model)
    signed_up = send_burst(web, "/signup", turning, name="Turning man")
    assert signed_up.status_code == 201
    copy = web.get_cookie("faceapp_session").value
    assert "faceapp_session=" in session_cookie(signed_up)
    assert web.post("/signout").status_code == 200
    thief = make_client(services, pose_model)  # another browser, with the copied cookie
    thief.set_cookie("faceapp_session", copy)
    assert thief.get("/me").status_code == 302
    assert thief.post("/me/delete", json={"confirm": True}).status_code == 401
    assert services.store.get(signed_up.get_json()["id"]) is not None


def test_a_tried_token_is_refused_after_a_restart(tmp_path, analyzer, pose_model, turning, live_server):
    from webapp import create_app
    from webapp.face_gate import FaceGate
    from webapp.services import Services

    def server(store):
        gate = FaceGate(store.secret, ledger=store, moves=("right",), steps=1, pose_model=pose_model)
        return live_server(create_app(Services(store=store, analyzer=analyzer, gate=gate)))

    folder = tmp_path / "restarted"
    store = open_store(folder)
    first = server(store)
    token = requests.get(f"{first.url}/signin/challenge", timeout=10).json()["token"]
    assert post_burst(first.url, turning[:8], token).status_code == 422  # tried (too short to pass)
    store.close()  # the server stopped (its thread is closed at the end) ...
    store = open_store(folder)  # ... and started again, on the same data dir
    try:
        again = post_burst(server(store).url, turning, token)
        assert again.status_code == 400 and "already tried" in again.json()["error"]
    finally:
        store.close()


def test_a_token_tried_at_one_server_is_refused_by_another_on_the_same_database(postgres, tmp_path, analyzer,
                                                                                 pose_model, turning, live_server):
    from recognition.store.postgres.store import PostgresStore
    from webapp import create_app
    from webapp.face_gate import FaceGate
    from webapp.services import Services

    url = postgres.new_database()
    stores = [PostgresStore(url, tmp_path / name, tmp_path / "keys" / "store.key") for name in ("a", "b")]
    try:
        a, b = [live_server(create_app(Services(store=store, analyzer=analyzer, gate=FaceGate(
            store.secret, ledger=store, moves=("right",), steps=1, pose_model=pose_model)))) for store in stores]
        token = requests.get(f"{a.url}/signin/challenge", timeout=10).json()["token"]
        signed_up = post_burst(a.url, turning, token, name="Turning man")
        assert signed_up.status_code == 201, signed_up.text
        at_b = post_burst(b.url, turning[::-1], token)  # other frames, the token a tried
        assert at_b.status_code == 400 and "already tried" in at_b.json()["error"]
        fresh = requests.get(f"{b.url}/signin/challenge", timeout=10).json()["token"]
        replay = post_burst(b.url, turning, fresh)  # a's frames, a fresh token of b's
        assert replay.status_code == 400 and "sent before" in replay.json()["error"]
    finally:
        for store in stores:
            store.close()


def post_burst(url: str, frames, token: str, **fields) -> requests.Response:
    encoded = [jpeg_bytes(frame) for frame in frames]
    return requests.post(f"{url}/signup", data={"token": token, "digest": digest_of(encoded), **fields},
                         files=[("frame", (f"f{i}.jpg", body, "image/jpeg")) for i, body in enumerate(encoded)],
                         timeout=120)
