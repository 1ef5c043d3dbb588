"""A video in an album, on the albums page in a real browser: a search by photo shows the video's frame
where the person was seen, with the time; the person's faces show their appearances in it."""
import pytest

import tests.test_album_videos as album_videos
import tests.test_page_browser as page_browser
from tests.conftest import fixture_path

pytestmark = pytest.mark.browser

street_video = album_videos.street_video
video_album = album_videos.video_album
video_server = album_videos.video_server
chromium = page_browser.chromium

ALL_SHOWN = "(selector) => [...document.querySelectorAll(selector)].every(i => i.complete && i.naturalWidth > 0)"


def test_a_search_shows_the_video_frame_at_its_time(chromium, video_server):
    server, _, _ = video_server
    with page_browser.browser_tab(chromium, timeout_ms=60_000) as page:
        page.goto(server.url + "/albums")
        page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('ready')")
        page.set_input_files("#query", str(fixture_path("faces/kit_harington/kit1.jpg")))
        page.wait_for_function("() => [...document.querySelectorAll('#results figcaption')]"
                               ".some(c => c.textContent.includes('street.mp4 at '))")
        page.wait_for_function(ALL_SHOWN, arg="#results img")
        video = page.locator("#results figure", has_text="street.mp4 at ")
        assert video.locator("img").get_attribute("src").startswith("/album/frame?album=Phone&video=2024")
        video.locator("img").click()
        assert page.get_attribute("#download", "href").startswith("/album/frame?")
        page.click("#close")
        page.click("#show-people")
        page.wait_for_function("() => [...document.querySelectorAll('#people figcaption')]"
                               ".filter(c => c.textContent.includes('street.mp4 at ')).length >= 2")
        page.wait_for_function(ALL_SHOWN, arg="#people img")
