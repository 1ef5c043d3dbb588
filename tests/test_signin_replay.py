"""A burst is good once, everywhere: the review's replays, each refused now. The same frames with a fresh
token, the frames played backwards, the way back from a right turn offered as a left turn, a recording
of one move where two are asked, one recording with a move more offered to both orders, frames that are
not the ones their digest names, a tried token at a second server on the same database and at the same
server after a restart, and a cookie copied before sign-out."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import open_store
from tests.footage import held_up_frames, moves_footage, turning_frames
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
    asked = web.post("/signin/challenge").get_json()
    assert sorted(asked["moves"]) == ["left", "right"] and asked["frames"] == 48 and asked["seconds"] == 4.8
    one_move = send_burst(web, "/signup", turning, token=asked["token"])
    assert one_move.status_code == 422 and "move" in one_move.get_json()["error"]
    asked = web.post("/signin/challenge").get_json()
    reordered = moves_footage(asked["moves"][::-1], analyzer.detector)[1:]  # [1:]: not the frames sent next
    wrong_order = send_burst(web, "/signup", reordered, token=asked["token"])
    assert wrong_order.status_code == 422 and "move 2 of 2" in wrong_order.get_json()["error"]
    asked = web.post("/signin/challenge").get_json()
    made = send_burst(web, "/signup", moves_footage(asked["moves"], analyzer.detector), token=asked["token"],
                      name="Turning man")
    assert made.status_code == 201, made.get_json()
    assert [s["move"] for s in made.get_json()["liveness"]["steps"]] == asked["moves"]


def challenge_for(client, moves: list[str]) -> str:
    """A token for these moves in this order: asked for until it comes up (an attacker can do the same,
    within the ask limit)."""
    for _ in range(20):
        asked = client.post("/signin/challenge").get_json()
        if asked["moves"] == moves:
            return asked["token"]
    raise AssertionError(f"no challenge of {moves} in 20 asks")


def test_one_burst_with_a_move_more_answers_neither_order(services, pose_model, analyzer):
    # The review's burst: left, right, left, recorded once and sent to both orders (before, 200 twice).
    web = make_client(services, pose_model, moves=("left", "right"), steps=2)
    three = moves_footage(["left", "right", "left"], analyzer.detector, step=4)  # 51 frames
    for order, frames in ((["left", "right"], three[:48]), (["right", "left"], three[1:49])):
        refused = send_burst(web, "/signin", frames, token=challenge_for(web, order))
        assert refused.status_code == 422, refused.get_json()
        assert "not asked (a turn to the left)" in refused.get_json()["error"]
        assert [step["passed"] for step in refused.get_json()["liveness"]["steps"]] == [True, True]
    # No more frames than the page records for the moves asked (24 each): before, 16 more were taken.
    too_long = send_burst(web, "/signin", three[:49], token=challenge_for(web, ["left", "right"]))
    assert too_long.status_code == 400 and "send 6 to 48 camera frames" in too_long.get_json()["error"]


def test_frames_that_are_not_pictures_spend_no_digest(web, services, turning, analyzer):
    # Before, the digest was spent before any frame was read: six 1-byte frames named by their own
    # digest each left a 30-day tag in the ledger.
    junk = [bytes([n]) for n in range(6)]
    digest = digest_of(junk)
    token = web.post("/signin/challenge").get_json()["token"]
    refused = web.post("/signin", data={"token": token, "digest": digest,
                                        "frame": [(io.BytesIO(body), f"f{i}.jpg") for i, body in enumerate(junk)]})
    assert refused.status_code in (400, 415), refused.get_json()
    assert not services.store.is_spent(b"burst:" + digest.encode())
    # Frames that were read are spent, whatever the judgement (here: a photo held up, refused).
    photo = held_up_frames(turning[3], analyzer.detector)
    assert send_burst(web, "/signin", photo).status_code == 422
    assert services.store.is_spent(b"burst:" + digest_of([jpeg_bytes(frame) for frame in photo]).encode())


def test_one_burst_sent_twice_at_once_passes_once(services, pose_model, turning, live_server):
    # The digest is spent before the judgement: of two sends of one burst at the same time, one finds
    # it spent (and the other passes), however long the judgement takes.
    server = live_server(make_client(services, pose_model).application)  # the gate asks for "right", once
    tokens = [requests.post(f"{server.url}/signin/challenge", timeout=10).json()["token"] for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda token: post_burst(server.url, turning, token), tokens))
    assert sorted(answer.status_code for answer in answers) == [201, 400], [answer.text for answer in answers]
    assert "sent before" in next(answer for answer in answers if answer.status_code == 400).json()["error"]


def test_frames_that_are_not_the_ones_their_digest_names_are_refused(web, turning):
    encoded = [jpeg_bytes(frame) for frame in turning]
    other = digest_of(encoded[:-1] + [encoded[-1] + b"\0"])  # one byte more in the last frame
    refused = send_burst(web, "/signup", turning, digest=other)
    assert refused.status_code == 400 and "not the ones the digest names" in refused.get_json()["error"]
    missing = web.post("/signup", data={"token": web.post("/signin/challenge").get_json()["token"],
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
    from webapp.http.face_gate import FaceGate
    from webapp.parts import Parts

    def server(store):
        gate = FaceGate(store.secret, ledger=store, moves=("right",), steps=1, pose_model=pose_model)
        return live_server(create_app(Parts.build(store=store, analyzer=analyzer, gate=gate)))

    folder = tmp_path / "restarted"
    store = open_store(folder)
    first = server(store)
    token = requests.post(f"{first.url}/signin/challenge", timeout=10).json()["token"]
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
    from webapp.http.face_gate import FaceGate
    from webapp.parts import Parts

    url = postgres.new_database()
    stores = [PostgresStore(url, tmp_path / name, tmp_path / "keys" / "store.key") for name in ("a", "b")]
    try:
        a, b = [live_server(create_app(Parts.build(store=store, analyzer=analyzer, gate=FaceGate(
            store.secret, ledger=store, moves=("right",), steps=1, pose_model=pose_model)))) for store in stores]
        token = requests.post(f"{a.url}/signin/challenge", timeout=10).json()["token"]
        signed_up = post_burst(a.url, turning, token, name="Turning man")
        assert signed_up.status_code == 201, signed_up.text
        at_b = post_burst(b.url, turning[::-1], token)  # other frames, the token a tried
        assert at_b.status_code == 400 and "already tried" in at_b.json()["error"]
        fresh = requests.post(f"{b.url}/signin/challenge", timeout=10).json()["token"]
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
