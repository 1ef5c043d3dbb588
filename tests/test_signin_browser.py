"""Signing up and in with the browser's own camera, in real chromium, against the live server.

The server asks, as by default, for two moves in a random order (here of left and right); the page
prompts each in turn while it records. In front of the camera: the clip's man, who makes each move when
its prompt appears (tests/prompted_camera.js: the page's camera is a stream drawn from his footage, the
turn to his right, or the same mirrored); Kit Harington doing the same in posed photos; or, on
Chromium's fake camera playing a y4m file in a loop, a photo of the man held up and moved about.
"""
from __future__ import annotations

from dataclasses import replace
from contextlib import contextmanager

import pytest

import tests.test_page_browser as page_browser
from tests.support.clips import letterbox, write_y4m
from tests import prompted_camera
from tests.footage import held_up_frames, kit_person, moves_footage, person, ping_pong, turning_frames
from tests.test_signin_api import send_burst
from webapp import create_app

pytestmark = pytest.mark.browser

chromium = page_browser.chromium
TIMEOUT_MS = 60_000  # a sign-in: 1.2 s to get ready, 4.8 s of frames, then the check (the model may be warming up)
# Tries a person gets, as one would retry (bench/liveness_bench.py measures how often one try passes:
# a person who reacts late, or turns fast, now and then misses a move).
TRIES = 3


@pytest.fixture(scope="module")
def turning():
    return turning_frames()


@pytest.fixture
def app(services, pose_model):
    from webapp.http.face_gate import FaceGate

    gate = FaceGate(services.signing_secret, ledger=services.store, liveness="challenge", moves=("left", "right"),
                    pose_model=pose_model)
    return create_app(replace(services, gate=gate))


@pytest.fixture
def server(app, live_server):
    return live_server(app)


def camera_file(tmp_path, name: str, frames, fps: int, *, loop=ping_pong):
    return write_y4m(tmp_path / f"{name}.y4m", [letterbox(frame, (640, 480)) for frame in loop(frames)], fps=fps)


VIEWPORT = {"width": 1100, "height": 800}


@contextmanager
def prompted(chromium, performer):
    """A browser context whose pages' camera shows performer following their prompts."""
    context = chromium.new_context(viewport=VIEWPORT)
    prompted_camera.install(context, performer)
    try:
        yield context
    finally:
        context.close()


def open_page(context, url):
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.csp_violations = page_browser.watch_csp(tab)  # checked at each press
    tab.goto(url)
    tab.wait_for_function("() => document.getElementById('view').videoWidth > 0")
    tab.wait_for_function("() => document.getElementById('hint').textContent !== 'starting your camera…'")
    return tab


def press(tab):
    """Press the button as a person does: None once signed in (the page went to /me), else the message."""
    tab.evaluate("document.getElementById('message').className = ''")
    tab.click("#go")
    tab.wait_for_function("() => location.pathname === '/me' || document.getElementById('message').className === 'error'")
    assert not tab.csp_violations, f"the page broke its Content Security Policy: {tab.csp_violations}"
    return None if tab.url.endswith("/me") else tab.text_content("#message")


def press_until(tab, wanted: str, tries: int = TRIES) -> list[str]:
    """Press again after a refusal, as a person would, until the page shows wanted: "/me" (signed in),
    or a message containing it. The messages of the refused tries, in order."""
    refused = []
    for _ in range(tries):
        message = press(tab)
        if message is None:
            assert wanted == "/me", f"signed in, where {wanted!r} was expected (after {refused})"
            return refused
        if wanted != "/me" and wanted in message:
            return refused
        refused.append(message)
    raise AssertionError(f"no {wanted!r} in {tries} tries: {refused}")


def test_sign_up_sign_out_sign_in_again_and_delete_me(chromium, server, services, analyzer, tmp_path):
    with prompted(chromium, person(analyzer.detector)) as context:
        tab = open_page(context, server.url + "/signup")
        tab.fill("#name", "Turning man")
        tab.fill("#email", "man@example.org")
        press_until(tab, "/me")
        people = services.store.identities()
        assert len(people) == 1 and people[0].name == "Turning man"
        assert tab.text_content("#me-hash") == people[0].hash
        assert "faceapp_session" not in tab.evaluate("document.cookie")  # HttpOnly: no script reads it
        tab.screenshot(path=str(tmp_path / "me.png"))

        tab.click("#signout")
        tab.wait_for_url("**/signin")
        tab.wait_for_function("() => document.getElementById('view').videoWidth > 0")
        press_until(tab, "/me")
        assert tab.text_content("#me-name") == "Turning man"

        tab.on("dialog", lambda dialog: dialog.accept())  # "Delete yourself ... for good?"
        tab.click("#delete")
        tab.wait_for_function("() => document.getElementById('message').textContent.startsWith('deleted')")
        assert services.store.identities() == []
        assert services.store.find_by_email_hash(services.store.email_hash("man@example.org")) is None
        tab.wait_for_url("**/signup")


def test_a_still_photo_of_a_registered_man_is_refused_by_the_challenge(chromium, app, server, services, turning,
                                                                       analyzer, tmp_path):
    assert signed_up(app, analyzer)
    photo = camera_file(tmp_path, "photo", held_up_frames(turning[3], analyzer.detector, count=30), fps=15)
    with page_browser.chromium_with_camera(chromium, photo) as browser:
        tab = open_page(browser.new_context(viewport=VIEWPORT), server.url + "/signin")
        refused = [press(tab) for _ in range(TRIES)]  # every try refused by the challenge (the face is his)
        assert all(m and ("did not move as asked" in m or "faster than a head" in m) for m in refused), refused
        tab.screenshot(path=str(tmp_path / "still-refused.png"))
        assert tab.url.endswith("/signin")
        assert tab.goto(server.url + "/me").url.endswith("/signin")  # no session


def test_a_different_person_is_refused(chromium, app, server, analyzer, tmp_path):
    assert signed_up(app, analyzer)
    with prompted(chromium, kit_person(analyzer.detector)) as context:  # photos in small steps: they pass as moves
        tab = open_page(context, server.url + "/signin")
        press_until(tab, "not recognised")  # he may need another try at the moves; he never gets in
        assert tab.goto(server.url + "/me").url.endswith("/signin")


def signed_up(app, analyzer) -> bool:
    """The turning man signed up over HTTP, answering whichever order the challenge asks."""
    client = app.test_client()
    asked = client.post("/signin/challenge").get_json()
    frames = moves_footage(asked["moves"], analyzer.detector)
    return send_burst(client, "/signup", frames, token=asked["token"], name="Turning man").status_code == 201
