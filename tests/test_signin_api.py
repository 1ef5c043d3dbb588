"""Signing up and in with a face over HTTP, as the pages do: challenge, burst, session, my page, delete me."""
from __future__ import annotations

from dataclasses import replace
import hashlib
import io

import cv2
import pytest

from tests.conftest import fixture_path, load_photo, stored_bytes
from tests.footage import KIT_LEFT, held_up_frames, moves_footage, posed_frames, turning_frames
from tests.support.clock import ManualClock


@pytest.fixture(scope="module")
def turning():
    return turning_frames()


def make_client(services, pose_model, *, liveness="challenge", moves=("right",), steps=1, session_hours=12.0,
                clock=None):
    """A client of an app whose challenges ask for steps of moves (the clip's man turns to his right); with
    clock, its sessions keep that time."""
    from webapp import create_app
    from webapp.http import sessions
    from webapp.http.face_gate import FaceGate

    gate = FaceGate(services.signing_secret, ledger=services.store, liveness=liveness, moves=moves, steps=steps,
                    pose_model=pose_model)
    app = create_app(replace(services, gate=gate, session_hours=session_hours))
    if clock is not None:
        app.config[sessions.CLOCK] = clock
    return app.test_client()


@pytest.fixture
def web(services, pose_model):
    return make_client(services, pose_model)


def jpeg_bytes(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def jpeg(frame) -> io.BytesIO:
    return io.BytesIO(jpeg_bytes(frame))


def digest_of(encoded: list[bytes]) -> str:
    """What the page computes over the frames it sends (signin.js burstDigest), written out again here."""
    return hashlib.sha256(b"".join(len(data).to_bytes(8, "big") + data for data in encoded)).hexdigest()


def send_burst(client, url, frames, *, token=None, digest=None, **fields):
    """What the page sends: the challenge's token, the frames recorded while the person moved, and
    their digest."""
    if token is None:
        token = client.post("/signin/challenge").get_json()["token"]
    encoded = [jpeg_bytes(frame) for frame in frames]
    data = {"token": token, "digest": digest or digest_of(encoded),
            "frame": [(io.BytesIO(body), f"frame{i}.jpg") for i, body in enumerate(encoded)]}
    data.update({key: value for key, value in fields.items() if value is not None})
    return client.post(url, data=data, content_type="multipart/form-data")


def session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("faceapp_session="))


def test_sign_up_with_the_challenge_starts_a_session_and_shows_my_page(web, services, turning):
    asked = web.post("/signin/challenge").get_json()
    assert asked["liveness"] == "challenge" and asked["moves"] == ["right"] and asked["prompts"][0]
    assert asked["frames"] == 24 and asked["seconds"] == 2.4
    response = send_burst(web, "/signup", turning, token=asked["token"], name="Turning man", email="man@example.org")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Turning man" and body["liveness"]["passed"] and body["liveness"]["moved"] >= 0.2
    assert len(body["liveness"]["digest"]) == 64 and body["liveness"]["moves"] == ["right"]
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    identity = services.store.get(body["id"])
    assert identity.name == "Turning man" and identity.email_hash == services.store.email_hash("man@example.org")
    page = web.get("/me")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Turning man" in html and body["id"] in html and "Delete me" in html


def test_signing_out_and_in_again_as_the_same_person(web, turning):
    signed_up = send_burst(web, "/signup", turning, name="Turning man").get_json()
    assert web.post("/signout").get_json() == {"signed_out": True}
    assert web.get("/me").status_code == 302  # signed out: my page sends to the sign-in page
    again = send_burst(web, "/signin", turning[::-1])  # another burst: the turn played backwards (still to his right)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["id"] == signed_up["id"] and again.get_json()["similarity"] >= 0.93
    assert signed_up["id"] in web.get("/me").get_data(as_text=True)


def test_a_still_photo_of_a_registered_person_does_not_sign_in(web, services, turning, analyzer):
    registered = send_burst(web, "/signup", turning, name="Turning man").get_json()
    web.post("/signout")
    response = send_burst(web, "/signin", held_up_frames(turning[3], analyzer.detector))
    assert response.status_code == 422
    body = response.get_json()
    assert not body["liveness"]["passed"] and "did not move as asked" in body["error"]
    assert web.get("/me").status_code == 302
    assert services.store.get(registered["id"]) is not None  # nothing lost


def test_a_different_person_who_moves_is_refused_without_a_hint(services, pose_model, analyzer):
    web = make_client(services, pose_model, moves=("left",))
    send_burst(web, "/signup", moves_footage(["left"], analyzer.detector), name="Turning man", email="man@example.org")
    web.post("/signout")
    for each, email in ((6, None), (7, "man@example.org"), (8, "nobody@example.org")):
        kit = posed_frames(KIT_LEFT, analyzer.detector, each=each)  # a new burst each time: a burst is good once
        response = send_burst(web, "/signin", kit, email=email)
        assert response.status_code == 401
        assert response.get_json()["error"] == "the face was not recognised as a registered person"
        assert response.get_json()["liveness"]["passed"]  # he moved as asked: it is the face that is refused
    assert web.get("/me").status_code == 302


def test_a_challenge_is_good_for_one_try_and_only_from_this_server(web, turning):
    token = web.post("/signin/challenge").get_json()["token"]
    assert send_burst(web, "/signup", turning, token=token).status_code == 201
    web.post("/signout")
    again = send_burst(web, "/signin", turning, token=token)  # the burst that passed, sent again
    assert again.status_code == 400 and "already tried" in again.get_json()["error"]
    forged = send_burst(web, "/signin", turning, token=token[:-4] + "AAAA")
    assert forged.status_code == 400 and "not one this server asked" in forged.get_json()["error"]
    assert send_burst(web, "/signin", turning[:3]).status_code == 400  # too few frames to show a movement
    photo = web.post("/signin", data={"image": (io.BytesIO(fixture_path("faces/obama/obama1.jpg").read_bytes()), "o.jpg")})
    assert photo.status_code == 400 and "a photo cannot sign" in photo.get_json()["error"]


def test_another_site_s_page_cannot_sign_in_out_or_delete(web, services, turning):
    assert send_burst(web, "/signup", turning).status_code == 201
    other = {"Origin": "https://elsewhere.example"}
    refused = web.post("/me/delete", json={"confirm": True}, headers=other)
    assert refused.status_code == 403 and "another site" in refused.get_json()["error"]
    assert web.post("/signout", headers=other).status_code == 403
    assert len(services.store.identities()) == 1 and web.get("/me").status_code == 200
    assert web.post("/signout", headers={"Origin": "http://localhost"}).status_code == 200  # this server's own page


def test_an_expired_challenge_is_refused(store):
    from recognition.liveness.challenges import ChallengeBook, ChallengeRefused

    now = [1000.0]
    book = ChallengeBook(b"k" * 32, ["left", "up"], store, steps=1, lifetime=30, clock=lambda: now[0])
    token, moves = book.issue()
    now[0] += 31
    with pytest.raises(ChallengeRefused, match="expired"):
        book.redeem(token)
    token, moves = book.issue()
    now[0] += 29
    assert book.redeem(token) == moves


def test_without_liveness_one_photo_signs_up_and_in(services, pose_model):
    web = make_client(services, pose_model, liveness="off")
    assert web.post("/signin/challenge").get_json() == {"liveness": "off"}
    assert "A photo cannot be uploaded" not in web.get("/signin").get_data(as_text=True)

    def photo(relative, **fields):
        return {"image": (io.BytesIO(fixture_path("faces/" + relative).read_bytes()), "p.jpg"), **fields}

    created = web.post("/signup", data=photo("obama/obama1.jpg", name="Barack"))
    assert created.status_code == 201
    web.post("/signout")
    signed_in = web.post("/signin", data=photo("obama/obama2.jpg"))
    assert signed_in.status_code == 200 and signed_in.get_json()["id"] == created.get_json()["id"]
    assert web.post("/signin", data=photo("biden/biden1.jpg")).status_code == 401


def test_delete_me_erases_the_person_their_vectors_and_email(web, services, turning):
    body = send_burst(web, "/signup", turning, name="Turning man", email="man@example.org").get_json()
    vector = services.store.get(body["id"]).embeddings[0].tobytes()
    refused = web.post("/me/delete", json={})
    assert refused.status_code == 400 and "confirm" in refused.get_json()["error"]
    assert web.post("/me/delete", data={"confirm": "true"}).status_code == 400  # a form (another site's) cannot
    deleted = web.post("/me/delete", json={"confirm": True})
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": body["id"]}
    assert services.store.get(body["id"]) is None
    assert services.store.find_by_email_hash(services.store.email_hash("man@example.org")) is None
    assert vector not in stored_bytes(services.store)  # the files hold no copy (they are sealed besides)
    assert web.get("/me").status_code == 302
    assert web.post("/me/delete", json={"confirm": True}).status_code == 401
    assert send_burst(web, "/signin", turning[::-1]).status_code == 401  # gone for good: not recognised (a new burst)


def test_a_session_cookie_cannot_be_altered_and_expires(services, pose_model, turning):
    clock = ManualClock()
    web = make_client(services, pose_model, session_hours=3 / 3600, clock=clock)  # a session of three seconds
    assert send_burst(web, "/signup", turning).status_code == 201
    cookie = web.get_cookie("faceapp_session")
    clock.advance(1.0)
    assert web.get("/me").status_code == 200
    assert web.get_cookie("faceapp_session").value == cookie.value  # using it does not renew it
    web.set_cookie("faceapp_session", cookie.value[:-3] + "abc")
    assert web.get("/me").status_code == 302  # a signature that does not hold is nobody
    web.set_cookie("faceapp_session", cookie.value)
    assert web.get("/me").status_code == 200
    clock.advance(2.5)
    assert web.get("/me").status_code == 302
    web.set_cookie("faceapp_session", cookie.value)  # a copy kept past its expiry is refused by the server
    assert web.get("/me").status_code == 302


def test_failed_sign_ins_are_slowed_per_client_and_per_email(web, analyzer):
    from webapp.http.face_gate import CLIENT_FAILURES, PERSON_FAILURES

    stranger = {"image": None}
    photo = fixture_path("faces/biden/biden1.jpg").read_bytes()

    def login(address, email=None):
        stranger["image"] = (io.BytesIO(photo), "b.jpg")
        data = dict(stranger, **({"email": email} if email else {}))
        return web.post("/login", data=data, environ_base={"REMOTE_ADDR": address})

    for _ in range(PERSON_FAILURES):  # one email tried from many places: its owner is protected ...
        assert login(f"10.0.0.{_}", "nobody@example.org").status_code == 401
    limited = login("10.0.1.1", "nobody@example.org")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "try again in" in limited.get_json()["error"]
    assert login("10.0.1.1").status_code == 401  # ... while that client may still try without the email
    for _ in range(CLIENT_FAILURES):
        assert login("10.0.2.2").status_code == 401
    blocked = login("10.0.2.2")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) <= 300
    assert login("10.0.3.3").status_code == 401  # other clients are not slowed by it


def test_the_preview_s_framing_hints(web):
    def look(frame):
        return web.post("/signin/look", data={"frame": (jpeg(frame), "f.jpg")}).get_json()

    face = load_photo("obama/obama2.jpg")
    assert look(face)["ok"] and look(face)["faces"] == 1
    assert look(face // 6)["hint"] == "too-dark"
    assert look(load_photo("group/obama_and_biden.jpg"))["hint"] == "several"
    small = cv2.copyMakeBorder(cv2.resize(face, None, fx=0.35, fy=0.35), 300, 300, 400, 400, cv2.BORDER_CONSTANT)
    assert look(small)["hint"] == "too-small"
    assert look(face[:40, :40])["hint"] in ("no-face", "too-dark")


def test_the_api_says_the_json_login_does_no_liveness_check(web):
    spec = web.get("/openapi.json").get_json()
    assert "no liveness" in spec["paths"]["/login"]["post"]["description"].lower()
    assert "429" in spec["paths"]["/login"]["post"]["responses"]
    for path in ("/signup", "/signin", "/signin/challenge", "/signout", "/me/delete"):
        assert path in spec["paths"]


def test_asking_for_challenges_again_and_again_is_slowed(web):
    from webapp.http.face_gate import CHALLENGES_ASKED

    for _ in range(CHALLENGES_ASKED):
        assert web.post("/signin/challenge", environ_base={"REMOTE_ADDR": "2001:db8::1"}).status_code == 200
    # another address of the same IPv6 /64 is the same client; another network is not
    shopping = web.post("/signin/challenge", environ_base={"REMOTE_ADDR": "2001:db8::beef"})
    assert shopping.status_code == 429 and int(shopping.headers["Retry-After"]) > 0
    assert "too many challenges" in shopping.get_json()["error"]
    assert web.post("/signin/challenge", environ_base={"REMOTE_ADDR": "2001:db8:1::1"}).status_code == 200


def test_challenges_asked_for_all_at_once_are_all_counted(web):
    from concurrent.futures import ThreadPoolExecutor

    from webapp.http.face_gate import CHALLENGES_ASKED

    def ask(_):
        return web.post("/signin/challenge", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(CHALLENGES_ASKED + 20)))
    assert answers.count(200) == CHALLENGES_ASKED and answers.count(429) == 20


def test_challenges_are_asked_for_by_post_so_no_other_site_uses_them_up(web):
    from webapp.http.face_gate import CHALLENGES_ASKED

    # Another site's page can make a browser GET this server (a link followed, an image): before, each
    # such GET was a challenge counted against every browser of the machine (all 127.0.0.1).
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    for _ in range(CHALLENGES_ASKED + 1):
        got = web.get("/signin/challenge", headers=navigation)
        assert got.status_code == 405 and got.get_json()["error"]
    posted = web.post("/signin/challenge", headers={"Origin": "https://elsewhere.example"})  # a form or fetch
    assert posted.status_code == 403 and "another site" in posted.get_json()["error"]
    asked = web.post("/signin/challenge", headers={"Origin": "http://localhost"})  # the page's own: still free
    assert asked.status_code == 200 and asked.get_json()["token"]


def test_a_burst_of_oversized_or_mismatched_frames_is_refused(web, turning):
    huge = [cv2.resize(turning[0], (2200, 1650))] * 6
    refused = send_burst(web, "/signin", huge)  # refused from the frame's header, before it is decoded
    assert refused.status_code == 413 and "megapixels" in refused.get_json()["error"]
    mixed = turning[:6] + [cv2.resize(turning[6], (320, 180))]
    refused = send_burst(web, "/signin", mixed)
    assert refused.status_code == 400 and "one size" in refused.get_json()["error"]


def test_sign_up_answers_count_toward_the_limits(web, turning):
    from webapp.http.face_gate import PERSON_FAILURES

    assert send_burst(web, "/signup", turning, email="man@example.org").status_code == 201
    web.post("/signout")
    for _ in range(PERSON_FAILURES):  # "this email is already registered", asked again and again
        assert send_burst(web, "/signup", turning[:3], email="man@example.org").status_code == 400
    assert send_burst(web, "/signup", turning[:3], email="man@example.org").status_code == 429
