"""The albums page in a real browser (Debian's chromium, driven by Playwright): progress, a search by
a photo, strictness, the preview, the people."""
import pytest

import tests.test_album_api as album_api
import tests.test_page_browser as page_browser
from tests.conftest import fixture_path

pytestmark = pytest.mark.browser

album_parts = album_api.album_parts
album_server = album_api.album_server  # the album of fixture photos, indexed by the real model
chromium = page_browser.chromium  # headless Debian chromium


@pytest.fixture
def page(chromium, album_server):
    with page_browser.browser_tab(chromium, timeout_ms=30_000) as tab:
        yield tab


def test_search_an_album_from_the_page(page, album_server):
    server, _ = album_server
    page.goto(server.url + "/albums")
    page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('ready')")
    assert "Family" in page.text_content("#albums")
    page.set_input_files("#query", str(fixture_path("faces/obama/obama3.jpg")))
    page.wait_for_function("() => document.querySelectorAll('#results figure').length >= 3")
    captions = page.locator("#results figcaption").all_text_contents()
    assert captions and all(caption.startswith("Family/obama/") or "group/" in caption for caption in captions)
    page.wait_for_function("() => [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)")
    page.click("#results img >> nth=0")  # the preview, with the original to download
    assert page.is_visible("#preview")
    assert page.get_attribute("#download", "href").startswith("/album/photo?album=Family&photo=")
    page.click("#close")
    loose = len(captions)
    page.locator("#strictness").fill("0.99")
    page.dispatch_event("#strictness", "change")
    page.wait_for_function(f"() => document.querySelectorAll('#results figure').length < {loose}")
    assert "0.99" in page.text_content("#message")
    page.click("#show-people")
    page.wait_for_function("() => document.querySelectorAll('#people .person').length >= 2")
    assert "people" in page.text_content("#people h2")


def test_name_a_person_and_take_a_face_out_from_the_page(page, album_server):
    server, _ = album_server
    page.goto(server.url + "/albums")
    page.click("#show-people")
    page.wait_for_function("() => document.querySelectorAll('#people .person').length >= 2")
    first = page.locator("#people .person >> nth=0")
    person_id = first.get_attribute("data-id")
    faces = first.locator("figure").count()
    first.locator(".person-name").fill("Barack")
    first.locator(".person-name").dispatch_event("change")
    page.wait_for_function("() => document.getElementById('message').textContent === 'saved'")
    page.reload()  # the name is the server's, not the page's
    page.click("#show-people")
    selector = f"#people .person[data-id=\"{person_id}\"]"
    page.wait_for_function(f"() => document.querySelector('{selector} .person-name')?.value === 'Barack'")
    page.evaluate("document.getElementById('message').textContent = ''")
    page.locator(f"{selector} .take-out >> nth=-1").click()
    page.wait_for_function(f"() => document.querySelectorAll('{selector} figure').length === {faces - 1}")
    assert "saved" in page.text_content("#message")
