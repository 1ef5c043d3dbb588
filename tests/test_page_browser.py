"""The page in a real browser: Debian's chromium, driven by Playwright, against the live server.

Everything is real but the camera, which is a video file: the Dlib model, waitress on 127.0.0.1, the
MJPEG stream, the page's own JavaScript, the key press and the name typed into its prompt.
"""
import json
import os
from contextlib import contextmanager
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.clips import letterbox
from tests.conftest import IN_CI, load_photo, wait_until, write_clip
from webapp import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox (tests may run as root in a container), and nothing that reaches the network by itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-quic", "--no-first-run", "--disable-sync"]
# The first embedding waits for the model to warm up, so waits on recognition are generous.
RECOGNITION_TIMEOUT_MS = 60_000
PHOTOS = ["obama/obama1.jpg", "obama/obama2.jpg"]
SIZE = (640, 480)


@pytest.fixture(scope="module")
def chromium():
    """Headless Debian chromium; Playwright is only its driver and never downloads a browser."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make test` installs it, or run `apt-get install chromium`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(camera_services, live_server, tmp_path):
    """One person on camera, two photos of him alternating every half second, so the picture changes."""
    clip = write_clip(tmp_path / "cam.avi", PHOTOS, seconds_each=0.5, fps=20, size=SIZE)
    return live_server(create_app(camera_services(str(clip))))


def watch_csp(tab) -> list[str]:
    """The Content Security Policy violations of the tab's pages, as they happen: Chromium's own console
    errors, and each securitypolicyviolation event (an init script, which the policy does not govern)."""
    violations: list[str] = []
    tab.on("console", lambda message: violations.append(message.text)
           if "Content Security Policy" in message.text else None)
    tab.add_init_script("document.addEventListener('securitypolicyviolation', (event) => console.error("
                        "`Content Security Policy violation: ${event.violatedDirective} ${event.blockedURI}`))")
    return violations


@contextmanager
def browser_tab(chromium, timeout_ms: int = 15_000):
    """A fresh tab in a context of its own, closed (ending any stream it watches) on the way out; a test
    that passed fails still if a page broke its Content Security Policy."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(timeout_ms)
    violations = watch_csp(opened)
    try:
        yield opened
        assert not violations, f"a page broke its Content Security Policy: {violations}"
    finally:
        context.close()


@contextmanager
def chromium_with_camera(chromium, video: Path):
    """Another chromium, whose camera plays video (a y4m file) to any page that asks for it."""
    browser = chromium.browser_type.launch(  # the same Playwright as the other page tests
        executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={video}"])
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(chromium, server):
    """A fresh tab; it depends on the server so it closes (ending its stream) before the server stops."""
    with browser_tab(chromium) as tab:
        yield tab


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def showing(stream, pictures) -> int:
    """Which of the camera's pictures the img shows now: the nearest one (overlays change little)."""
    shot = cv2.imdecode(np.frombuffer(stream.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    shot = cv2.resize(shot, SIZE).astype(int)
    return int(np.argmin([np.abs(shot - picture).mean() for picture in pictures]))


def test_the_stream_shows_changing_camera_frames(page, server):
    pictures = [letterbox(load_photo(photo), SIZE).astype(int) for photo in PHOTOS]
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('stream').naturalWidth > 0")
    seen = set()
    # Both pictures turn up in the img: live camera frames, neither a frozen frame nor the placeholder.
    assert wait_until(lambda: seen.add(showing(page.locator("img#stream"), pictures)) or len(seen) == 2,
                      timeout=15, interval=0.1), f"the stream showed only picture(s) {seen} of {PHOTOS}"


def test_pressing_a_and_typing_a_name_enrolls_the_face_on_camera(page, server):
    from playwright.sync_api import expect

    prompts = []

    def answer(dialog):
        prompts.append(dialog.message)
        dialog.accept("Barack")

    page.on("dialog", answer)
    page.goto(server.url + "/")
    # Press only once the page itself shows an unknown face on camera, as a person would.
    expect(page.locator("#now li.unknown")).to_have_count(1, timeout=RECOGNITION_TIMEOUT_MS)
    page.keyboard.press("a")

    # Enrolling embeds the face in the model process the camera's worker keeps busy: on two loaded cores
    # that took longer than Playwright's 5 s default (a clean-clone run); the same wait as for a name.
    expect(page.locator("#enrolled")).to_contain_text("Barack", timeout=RECOGNITION_TIMEOUT_MS)
    expect(page.locator("#outcome")).to_contain_text("Enrolled Barack")
    assert prompts == ["Name for this face (optional):"]
    faces = get_json(server.url + "/faces")["faces"]
    assert [face["name"] for face in faces] == ["Barack"]
    # The page's next poll of /hash now names him on camera.
    expect(page.locator("#now li.known")).to_contain_text("Barack", timeout=RECOGNITION_TIMEOUT_MS)


def test_the_page_shows_every_camera_small_and_enrolls_from_the_one_shown_large(chromium, cameras_rig, live_server,
                                                                                  analyzer, tmp_path):
    """Two cameras: both as tiles saying who is on them, one large; a click on the other tile shows it
    large, and 'a' then enrolls the face of that camera, not the first's."""
    from playwright.sync_api import expect

    barack = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack").hash
    door = write_clip(tmp_path / "door.avi", ["obama/obama2.jpg"], seconds_each=4.0, fps=15, size=SIZE)
    garden = write_clip(tmp_path / "garden.avi", ["kit_harington/kit1.jpg"], seconds_each=4.0, fps=15, size=SIZE)
    server = live_server(create_app(cameras_rig({"door": str(door), "garden": str(garden)})))
    with browser_tab(chromium) as tab:
        tab.on("dialog", lambda dialog: dialog.accept("Kit"))
        tab.goto(server.url + "/")
        tiles = tab.locator("#cameras figure")
        expect(tiles).to_have_count(2)
        expect(tab.locator('#cameras figure[data-camera="door"] figcaption')).to_contain_text(
            "Barack", timeout=RECOGNITION_TIMEOUT_MS)
        expect(tab.locator('#cameras figure[data-camera="garden"] figcaption')).to_contain_text(
            "1 unknown", timeout=RECOGNITION_TIMEOUT_MS)
        tab.wait_for_function("() => [...document.querySelectorAll('#cameras img')].every((i) => i.naturalWidth > 0)")
        expect(tab.locator("#shown")).to_have_text("door")
        expect(tab.locator("#now li.known")).to_contain_text("Barack", timeout=RECOGNITION_TIMEOUT_MS)
        tab.locator('#cameras figure[data-camera="garden"]').click()
        expect(tab.locator("#shown")).to_have_text("garden")
        assert tab.locator("img#stream").get_attribute("src").endswith("/streaming/garden")
        expect(tab.locator("#now li.unknown")).to_have_count(1, timeout=RECOGNITION_TIMEOUT_MS)
        tab.keyboard.press("a")
        expect(tab.locator("#outcome")).to_contain_text("Enrolled Kit", timeout=RECOGNITION_TIMEOUT_MS)
        expect(tab.locator('#cameras figure[data-camera="garden"] figcaption')).to_contain_text(
            "Kit", timeout=RECOGNITION_TIMEOUT_MS)
    names = {face["name"]: face["hash"] for face in get_json(server.url + "/faces")["faces"]}
    assert set(names) == {"Barack", "Kit"} and names["Barack"] == barack
    on_garden = get_json(server.url + "/hash/garden")
    assert on_garden["name"] == "Kit" and get_json(server.url + "/hash/door")["name"] == "Barack"


def test_the_page_offers_the_filters_and_streams_the_one_chosen(page, server):
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('stream').naturalWidth > 0")
    options = page.locator("#filter option").all_text_contents()
    assert options == ["none", "sunglasses", "hat"]
    page.select_option("#filter", "sunglasses")
    page.wait_for_function("() => document.getElementById('stream').src.endsWith('?filter=sunglasses')")
    page.wait_for_function("() => document.getElementById('stream').naturalWidth > 0")
    page.select_option("#filter", "")
    page.wait_for_function("() => !document.getElementById('stream').src.includes('filter')")
