"""The pages with --api-key, in real chromium: they ask for the key (again when it is wrong), then show
the live stream and album photos through the viewer cookie, never the key in a URL."""
import shutil
from dataclasses import replace

import pytest

import tests.test_page_browser as page_browser
from recognition.album.library import AlbumLibrary
from tests.conftest import fixture_path, wait_until, write_clip
from webapp import create_app

pytestmark = pytest.mark.browser

chromium = page_browser.chromium  # headless Debian chromium
KEY = "open-sesame"


@pytest.fixture
def keyed_server(camera_services, live_server, analyzer, tmp_path):
    """A camera showing Obama, an album of him, and a key."""
    clip = write_clip(tmp_path / "cam.avi", page_browser.PHOTOS, seconds_each=0.5, fps=20, size=page_browser.SIZE)
    services = camera_services(str(clip))
    album = tmp_path / "Family"
    album.mkdir()
    for photo in ("obama1.jpg", "obama2.jpg", "obama4.jpg"):
        shutil.copyfile(fixture_path(f"faces/obama/{photo}"), album / photo)
    library = AlbumLibrary.for_server([album], services.store, analyzer).start()
    server = live_server(create_app(replace(services, albums=library, api_key=KEY)))
    assert wait_until(lambda: library.progress.state == "ready", timeout=120)
    yield server
    library.stop()


def test_the_pages_ask_for_the_key_then_show_the_stream_and_photos(chromium, keyed_server):
    prompts, answers = [], ["wrong", KEY]

    def answer(dialog):
        prompts.append(dialog.message)
        dialog.accept(answers.pop(0) if answers else KEY)

    requested = []
    with page_browser.browser_tab(chromium, timeout_ms=60_000) as page:
        page.on("dialog", answer)
        page.on("request", lambda request: requested.append(request.url))
        page.goto(keyed_server.url + "/")
        page.wait_for_function("() => document.getElementById('stream').naturalWidth > 0")
        assert prompts == ["This server needs its API key:", "That API key was refused. API key:"]
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('model Dlib')")
        page.goto(keyed_server.url + "/albums")  # the same tab: the key is kept for it, not asked again
        page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('ready')")
        assert page.text_content("#albums") == "Family"
        page.set_input_files("#query", str(fixture_path("faces/obama/obama3.jpg")))
        page.wait_for_function("() => document.querySelectorAll('#results figure').length >= 3")
        page.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.click("#results img >> nth=0")
        page.wait_for_function("() => document.getElementById('preview-image').naturalWidth > 0")
        assert len(prompts) == 2
        assert not any(KEY in url for url in requested)  # the key went in headers only
    with page_browser.browser_tab(chromium) as page:  # a tab that declines to give the key
        page.on("dialog", lambda dialog: dialog.dismiss())
        page.goto(keyed_server.url + "/")
        page.wait_for_selector("#key-needed button")
        assert page.get_attribute("#stream", "src") is None  # no broken picture: none is shown
        assert "API key" in page.text_content("#key-needed")
