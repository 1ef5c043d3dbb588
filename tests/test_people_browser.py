"""The people page in a real browser (Debian's chromium): rename, more photos, train, predict, delete."""
import pytest

import tests.test_page_browser as page_browser
from tests.support.clips import letterbox, write_y4m
from tests.conftest import fixture_path, load_photo
from webapp import create_app

pytestmark = pytest.mark.browser

chromium = page_browser.chromium  # headless Debian chromium


@pytest.fixture
def people_server(services, live_server, analyzer):
    kit = '{"age":{"value":33.3,"confidence":0.6},"gender":{"value":"male","confidence":1.0},' \
          '"emotion":{"value":"neutral","confidence":0.7}}'
    for photo, name, attributes in (("obama/obama1.jpg", "Barack", None), ("kit_harington/kit1.jpg", "Kit", kit)):
        _, vectors = analyzer.embed(load_photo(photo))
        analyzer.matcher.enroll(vectors[0], name, attributes=attributes)
    return live_server(create_app(services))


@pytest.fixture
def page(chromium, people_server):
    with page_browser.browser_tab(chromium, timeout_ms=30_000) as tab:
        yield tab


def row(name: str) -> str:
    return f"#people tr[data-name='{name}']"


def test_the_people_page(page, people_server, services, tmp_path):
    page.goto(people_server.url + "/people")
    page.wait_for_selector(row("Barack"))
    assert page.locator("#people tr").count() == 2
    assert page.text_content(f"{row('Kit')} td:nth-child(4)") == "33, male, neutral"  # kept at registration
    assert page.locator("img").count() == 0  # no picture of anyone: none is kept
    page.set_input_files(f"{row('Barack')} .add-photos", [str(fixture_path("faces/obama/obama2.jpg"))])
    page.wait_for_function("() => document.getElementById('message').textContent.startsWith('added 1')")
    page.wait_for_selector(f"{row('Barack')} .vectors:text('2')")
    page.set_input_files(f"{row('Kit')} .add-photos", [str(fixture_path("faces/kit_harington/kit2.jpg"))])
    page.wait_for_selector(f"{row('Kit')} .vectors:text('2')")
    page.set_input_files(f"{row('Kit')} .add-photos", [str(fixture_path("faces/obama/obama3.jpg"))])
    page.wait_for_function("() => document.getElementById('message').textContent.includes('Barack')")  # refused: him
    page.click("#train")
    page.wait_for_function("() => document.getElementById('report').textContent.startsWith('method')")
    assert "2 people" in page.text_content("#report")
    page.set_input_files("#predict", str(fixture_path("faces/obama/obama4.jpg")))
    page.wait_for_selector("#predicted li.known")
    assert page.text_content("#predicted li").startswith("Barack")
    name = page.locator(f"{row('Kit')} input.person-name")
    name.fill("Kit H.")
    name.blur()  # the change is sent when the field is left, as a person does it
    page.wait_for_function("() => document.getElementById('message').textContent === 'renamed to Kit H.'")
    assert [i.name for i in services.store.identities() if i.name.startswith("Kit")] == ["Kit H."]
    # A zip with a folder per person: Rose is enrolled from it.
    from tests.test_more_photos import zipped

    archive = tmp_path / "people.zip"
    archive.write_bytes(zipped({"Rose/1.jpg": fixture_path("faces/rose_leslie/rose1.jpg").read_bytes(),
                                "Rose/2.jpg": fixture_path("faces/rose_leslie/rose2.jpg").read_bytes()}))
    page.set_input_files("#import", str(archive))
    page.wait_for_function("() => document.getElementById('message').textContent.startsWith('1 enrolled')")
    page.wait_for_selector(f"{row('Rose')} .vectors:text('2')")
    page.on("dialog", lambda dialog: dialog.accept())  # "delete ... for good?"
    page.click(f"{row('Barack')} .delete")
    page.wait_for_function("() => document.querySelectorAll('#people tr').length === 2")
    assert sorted(i.name for i in services.store.identities()) == ["Kit H.", "Rose"]


@pytest.fixture
def camera_browser(chromium, tmp_path):
    """Chromium whose camera plays a photo of Barack Obama (a y4m file), as Debian's chromium can."""
    video = write_y4m(tmp_path / "camera.y4m", [letterbox(load_photo("obama/obama2.jpg"), (640, 480))] * 15)
    with page_browser.chromium_with_camera(chromium, video) as browser:
        yield browser


def test_a_photo_from_the_browser_s_camera_is_added(camera_browser, people_server, services):
    with page_browser.browser_tab(camera_browser, timeout_ms=30_000) as page:
        page.goto(people_server.url + "/people")
        page.wait_for_selector(row("Barack"))
        page.click(f"{row('Barack')} .camera")
        page.wait_for_function("() => document.getElementById('camera-view').videoWidth > 0")
        page.click("#snap")
        page.wait_for_function("() => document.getElementById('message').textContent.startsWith('added 1 photo from')")
        page.wait_for_selector(f"{row('Barack')} .vectors:text('2')")
    barack = next(i for i in services.store.identities() if i.name == "Barack")
    assert len(barack.embeddings) == 2
