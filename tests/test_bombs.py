"""Inputs cannot exhaust memory: each bomb, small on the wire, sent to a real server process (run.py),
answered with a 4xx that names the problem, and raising the server's peak resident memory by no more
than 64 MB beyond its largest upload (tests/memory_server.py measures the peak)."""
from __future__ import annotations

import io
import json
import zipfile

import cv2
import numpy as np
import pytest
import requests

from tests import bomb_files as bombs
from tests.conftest import CLIP, fixture_path, wait_until
from tests.memory_server import MB, Measured, MeasuredServer
from webapp.signin import burst_digest

MAX_UPLOAD = 16 * MB  # run.py's default --max-upload-mb
BOUND = 64 * MB + MAX_UPLOAD


@pytest.fixture(scope="module")
def server(weights_dir, tmp_path_factory):
    """One real server for every bomb (--liveness challenge, the default), warmed up by a normal
    request to each kind of route, so the figures are the bombs' own, not first-use costs."""
    folder = tmp_path_factory.mktemp("bombs")
    (folder / "album").mkdir()
    # Album photos may be up to 50 MP: indexing reads this one in the background (before any figure).
    (folder / "album" / "big.png").write_bytes(bombs.png_bomb(7000, 7000))
    running = MeasuredServer(folder, weights_dir.parent.parent, ["--album", str(folder / "album")])
    try:
        assert wait_until(lambda: requests.get(running.url + "/album", timeout=30).json()["state"] == "ready",
                          timeout=300, interval=0.5)
        face = fixture_path("faces/obama/obama1.jpg").read_bytes()
        warm_ups = [post("/process-frame", files={"frame": ("face.jpg", face)}),
                    post("/people/import", files={"zip": ("p.zip", zipped({"Ada/a.jpg": b"not a photo"}))}),
                    post("/extract_embeddings_from_video", files={"video": ("clip.mp4", CLIP.read_bytes())}),
                    post("/album/search", files={"image": ("face.jpg", face)})]
        for send in warm_ups:
            assert send(running.url).status_code < 500
        # The first burst loads the 68-point landmark model (about 100 MB, once, whoever sends it).
        vga = cv2.imencode(".jpg", cv2.resize(cv2.imread(str(fixture_path("faces/obama/obama1.jpg"))), (640, 480)))[1]
        assert burst(running.url, "/signin", vga.tobytes(), 6).status_code < 500
        yield running
    finally:
        running.stop()


def post(path: str, **options):
    return lambda url: requests.post(url + path, timeout=300, **options)


def burst(url: str, route: str, frame: bytes, count: int = 40, suffix: str = ".jpg"):
    """count copies of frame sent as a burst, with a fresh challenge's token and the frames' digest (a
    burst is good once: each test sends frames of its own)."""
    token = requests.post(url + "/signin/challenge", timeout=30).json()["token"]
    files = [("frame", (f"f{n}{suffix}", frame)) for n in range(count)]
    digest = burst_digest([frame] * count)
    return requests.post(url + route, data={"token": token, "digest": digest, "name": "Nobody"}, files=files,
                         timeout=300)


def zipped(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(measured: Measured, status: int, *words: str) -> None:
    """A 4xx naming the problem, within the bound."""
    detail = f"{measured.status} +{measured.growth / MB:.1f} MB {json.dumps(measured.body)[:300]}"
    assert measured.status == status and all(word in measured.error for word in words), detail
    assert measured.growth < BOUND, detail


def test_zips_that_unpack_to_300_mib_are_refused(server):
    for method, why in [(bombs.BZIP2, "compressed with BZIP2"), (bombs.LZMA, "compressed with LZMA"),
                        (bombs.DEFLATED, "unpacks to more than the 1000 bytes it declares")]:
        data = bombs.lying_zip(method)
        assert len(data) < 400_000  # 358 bytes for BZIP2, as the review sent
        refused(server.measure(post("/people/import", files={"zip": ("people.zip", data)})), 400, why)
    many = bombs.lying_zip(bombs.DEFLATED, unpacked=20 * bombs.MiB, declared=20 * bombs.MiB, members=4)
    refused(server.measure(post("/people/import", files={"zip": ("people.zip", many)})), 400, "more than 64 MB")


def test_a_12000_pixel_square_png_is_refused_before_it_is_decoded(server):
    png = bombs.png_bomb(12000, 12000)
    assert len(png) < 200_000  # 140 KB on the wire, 144 megapixels
    for path in ("/signin/look", "/process-frame"):
        refused(server.measure(post(path, files={"frame": ("bomb.png", png)})), 413, "too large", "12000x12000")


@pytest.mark.parametrize("name", ["16-bit RGBA PNG", "WebP", "progressive JPEG", "JPEG declaring 60000x60000"])
def test_images_declaring_huge_sizes_are_refused(server, name):
    make = {"16-bit RGBA PNG": lambda: bombs.png_bomb(5000, 5000, bit_depth=16, colour_type=6),
            "WebP": bombs.webp_bomb,
            "progressive JPEG": bombs.progressive_jpeg_bomb,
            "JPEG declaring 60000x60000": lambda: bombs.jpeg_declaring(
                60000, 60000, fixture_path("faces/obama/obama1.jpg").read_bytes())}
    data = make[name]()
    assert len(data) < 1_000_000
    refused(server.measure(post("/process-frame", files={"frame": ("bomb", data)})), 413, "too large")


@pytest.mark.parametrize("name, called", [("tiff", "TIFF"), ("jp2", "JPEG 2000"), ("hdr", "Radiance HDR")])
def test_other_codecs_are_refused_by_type(server, name, called):
    data = bombs.other_codec_bombs()[name]
    refused(server.measure(post("/process-frame", files={"frame": (f"bomb.{name}", data)})), 415,
            called, "send JPEG, PNG, WebP or BMP")


def test_an_album_query_photo_is_refused_before_it_is_decoded(server):
    png = bombs.png_bomb(6000, 6000)  # under the 40 MP the album search took before: 700 MB to read
    refused(server.measure(post("/album/search", files={"image": ("query.png", png)})), 413, "too large", "6000x6000")


def test_videos_of_huge_frames_are_refused_before_a_frame_is_decoded(server, tmp_path):
    avi = bombs.video_of_huge_frames(tmp_path)  # 8K frames, four times the limit
    mp4 = bombs.video_of_huge_frames(tmp_path, suffix=".mp4", fourcc="mp4v")
    for data in (avi, mp4, bombs.video_declaring(avi, 640, 480), bombs.video_declaring(mp4, 640, 480)):
        measured = server.measure(post("/extract_embeddings_from_video", files={"video": ("v", data)}))
        refused(measured, 413, "7680x4320")
    refused(server.measure(post("/extract_embeddings_from_video", files={"video": ("v.gif", b"GIF89a" + bytes(100))})),
            415, "send MP4, MOV, MKV, WebM or AVI")


@pytest.mark.parametrize("route, side", [("/signup", 6000), ("/signin", 6001)])
def test_a_burst_of_40_huge_frames_is_refused_at_the_first(server, route, side):
    frame = bombs.png_bomb(side, side)  # 36 MP each, 35 KB on the wire
    measured = server.measure(lambda url: burst(url, route, frame, suffix=".png"))
    refused(measured, 413, "'frame' is too large", f"{side}x{side}")


def test_a_burst_of_40_full_hd_frames_is_looked_at_one_frame_at_a_time(server):
    """Full-HD frames are allowed (2.1 MP each), but one is decoded at a time: 40 of them held at once
    took +250 MB. The same frame 40 times does not move, so the challenge refuses it (422)."""
    face = cv2.resize(cv2.imread(str(fixture_path("faces/obama/obama1.jpg"))), (1920, 1080))
    frame = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 30])[1].tobytes()
    refused(server.measure(lambda url: burst(url, "/signin", frame)), 422, "the head did not move")


def test_a_phone_photo_still_works_with_its_positions_in_its_own_pixels(server):
    """A 12 MP and a 48 MP JPEG are decoded at a fraction of their size, within the bound, and the face
    is reported where it is in the photo sent."""
    small = cv2.imread(str(fixture_path("faces/obama/obama1.jpg")))  # 640x800
    found = server.measure(post("/process-frame", files={"frame": ("a.jpg", cv2.imencode(".jpg", small)[1].tobytes())}))
    for width, height in ((3024, 4032), (6000, 7500)):
        photo = cv2.imencode(".jpg", cv2.resize(small, (width, height)), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
        measured = server.measure(post("/process-frame", files={"frame": ("phone.jpg", photo)}))
        detail = f"{measured.status} +{measured.growth / MB:.1f} MB {json.dumps(measured.body)[:200]}"
        assert measured.status == 200 and measured.growth < BOUND, detail
        expected = np.array(found.body["coords"]) * [width / 640, height / 800, width / 640, height / 800]
        assert np.allclose(measured.body["coords"], expected, rtol=0.1, atol=width / 640 * 12), detail


def test_a_large_album_photo_is_shown_within_the_bound(server):
    """A 49-megapixel PNG synced into an album is indexed (album photos may be up to 50 MP, read in the
    background), but showing it highlighted or scaled is a request: refused, not decoded whole (it took
    +1.4 GB for a 256-pixel thumbnail); the original is still served as it is."""
    assert requests.get(server.url + "/album", timeout=30).json()["photos"] == 1  # indexed (no face in it)
    query = {"album": "album", "photo": "big.png"}
    for options in ({"size": "256"}, {"box": "10,10,100,100"}):
        measured = server.measure(lambda url: requests.get(url + "/album/photo", params={**query, **options}, timeout=60))
        refused(measured, 422, "cannot be shown", "too-large", "7000x7000")
    original = requests.get(server.url + "/album/photo", params=query, timeout=60)
    assert original.status_code == 200 and original.headers["Content-Type"] == "image/png"


def test_the_bombs_left_the_server_serving(server):
    assert requests.get(server.url + "/hash", timeout=30).status_code == 200
    assert "Traceback" not in server.log()
