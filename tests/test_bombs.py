"""Inputs cannot exhaust memory: each bomb, small on the wire, sent to a real server process (run.py),
answered with a 4xx that names the problem, and raising the server's peak resident memory by no more
than 64 MB beyond its largest upload (tests/memory_server.py measures the peak)."""
from __future__ import annotations

import io
import json
import socket
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import requests

from tests import bomb_files as bombs
from tests.conftest import CLIP, fixture_path, wait_until
from tests.memory_server import MB, Measured, MeasuredServer
from webapp.routes.signin import burst_digest

MAX_UPLOAD = 16 * MB  # run.py's default --max-upload-mb
BOUND = 64 * MB + MAX_UPLOAD
SLOTS = 2  # --model-slots: requests that run the model at once (the default is the number of cores)


@pytest.fixture(scope="module")
def server(weights_dir, tmp_path_factory):
    """One real server for every bomb (--liveness challenge, the default), warmed up by a normal
    request to each kind of route, so the figures are the bombs' own, not first-use costs."""
    folder = tmp_path_factory.mktemp("bombs")
    (folder / "album").mkdir()
    # Album photos may be up to 50 MP: indexing reads this one in the background (before any figure).
    (folder / "album" / "big.png").write_bytes(bombs.png_bomb(7000, 7000))
    running = MeasuredServer(folder, weights_dir.parent.parent, ["--album", str(folder / "album"),
                                                                 "--model-slots", str(SLOTS)])
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


def body(path: str, data: bytes, content_type: str):
    return post(path, data=data, headers={"Content-Type": content_type})


def test_form_and_json_bodies_are_refused_before_they_are_parsed(server):
    """Werkzeug parses an url-encoded body whole, and JSON is parsed whole: 15 MB of either, on open
    routes, cost 400 to 750 MB of Python objects before any check."""
    form, listed = "application/x-www-form-urlencoded", "application/json"
    refused(server.measure(body("/signin/look", bombs.form_bomb(), form)), 413, "url-encoded body may be at most 4.0 MB")
    refused(server.measure(body("/signin/look", b"a=&" * 1_000_000, form)), 413, "at most 64 fields")
    for path in ("/signin", "/me/delete"):
        refused(server.measure(body(path, bombs.json_bomb(), listed)), 413, "JSON body may be at most 64 KB")
    # Under the size limits, lists and objects are counted in the raw bytes: [[],[],...] cannot expand.
    refused(server.measure(body("/signin", bombs.json_bomb(60_000), listed)), 413, "lists and objects; at most 256")
    faces = b'{"faces": ' + bombs.json_bomb(2 * MB - 64) + b"}"  # the vectors route takes 2 MB
    refused(server.measure(body("/faces", faces, listed)), 413, "lists and objects; at most 4,064")
    refused(server.measure(body("/faces", bombs.json_bomb(3 * MB), listed)), 413, "at most 2.0 MB here",
            "send fewer faces per request")


def test_multipart_forms_are_held_to_their_limits(server):
    """Multipart is parsed as it streams; a text field (a base64 photo) and the number of parts are limited."""
    big_field = post("/process-frame", files={"frame": (None, "A" * 15 * MB)})
    refused(server.measure(big_field), 413, "a text field in it of at most 4.0 MB", "send a photo as a file")
    parts = post("/signin/look", files=[("frame", (f"{n}.jpg", bytes(15_000))) for n in range(1000)])
    refused(server.measure(parts), 413, "at most 256 parts")


def test_a_zipped_photo_is_read_at_a_requests_bound(server):
    """A 7000x7000 PNG (49 MP, under the album's 50) in a 2 KB zip: read whole at the album's limit it
    took +210 MB; an upload is held to a request's bound, so it is skipped from its header."""
    data = zipped({"Ada/big.png": bombs.png_bomb(7000, 7000, colour_type=6)})
    assert len(data) < 5000
    measured = server.measure(post("/people/import", files={"zip": ("people.zip", data)}))
    detail = f"{measured.status} +{measured.growth / MB:.1f} MB {json.dumps(measured.body)[:300]}"
    assert measured.status == 200 and measured.growth < BOUND, detail
    [skipped] = measured.body["skipped"]
    assert skipped["reason"] == "too-large" and "7000x7000" in skipped["detail"], detail


def test_requests_to_the_model_at_once_are_bounded_by_the_slots(server):
    """12 requests with a 4K frame at once (the per-client bucket lets 30 through) raised the peak by
    +445 MB, one alone by 49: now SLOTS run at once, as many wait, the rest get 503 with Retry-After.
    The bound: SLOTS requests' 64 MB each, and the 12 bodies."""
    face = cv2.resize(cv2.imread(str(fixture_path("faces/obama/obama1.jpg"))), (3840, 2160))
    frame = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    look = post("/signin/look", files={"frame": ("f.jpg", frame)})

    def at_once(url):
        with ThreadPoolExecutor(12) as pool:
            return list(pool.map(lambda _: look(url), range(12)))

    answers, growth = server.measure_many(at_once)
    statuses = sorted(answer.status for answer in answers)
    assert growth < SLOTS * 64 * MB + 12 * len(frame), f"+{growth / MB:.1f} MB {statuses}"
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    assert all("busy with 2 requests to the face model" in a.error for a in answers if a.status == 503), statuses


def unfinished_post(port: int, size: int, sent: int) -> socket.socket:
    """A POST to /faces without a key, declaring size bytes and sending sent of them: never finished."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /faces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                 b"Content-Length: %d\r\n\r\n" % size)
    try:
        for _ in range(sent // MB):
            sock.sendall(bytes(MB))
    except OSError:  # refused: the server answered and closed while this was still sending
        pass
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """The status line the server sent on sock (b"" when it cut the connection), or None while it waits."""
    sock.settimeout(1)
    try:
        return sock.recv(200).split(b"\r\n")[0]
    except socket.timeout:
        return None
    except OSError:
        return b""


def test_unfinished_bodies_held_at_once_are_bounded(server):
    """waitress holds a body whole before the app (and its key check) sees it: ten 15 MB POSTs sent
    but for their last MB, without a key, held +140 MB. The bodies held at once are budgeted (four of
    the largest): the rest get 503 before their bytes are read."""
    sockets = []

    def send(url):
        for _ in range(10):
            sockets.append(unfinished_post(server.port, 15 * MB, 14 * MB))
        time.sleep(2)  # for the server to read what was sent: not a timing assertion, a settling
        return requests.get(url + "/health", timeout=30)

    try:
        measured = server.measure(send)
        answers = [answer_of(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    waiting = [answer for answer in answers if answer is None]
    assert measured.status == 200 and measured.growth < BOUND, f"+{measured.growth / MB:.1f} MB {answers}"
    refusals = [answer for answer in answers if answer is not None]
    assert len(waiting) == 4 and set(refusals) <= {b"", b"HTTP/1.1 503 Service Unavailable"}, answers
    # Their budget is free again once they are gone.
    assert wait_until(lambda: requests.post(server.url + "/signin/look", files={"frame": ("f.jpg", bytes(4 * MB))},
                                            timeout=30).status_code == 415, timeout=30)


def test_the_bombs_left_the_server_serving(server):
    assert requests.get(server.url + "/hash", timeout=30).status_code == 200
    assert "Traceback" not in server.log()
