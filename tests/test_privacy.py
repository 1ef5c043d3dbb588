"""Nothing of a face reaches disk but encrypted vectors: not the upload, not a crop, no vector in the clear."""
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from tests.conftest import load_photo, stored_bytes
from webapp import create_app

# Long enough that sealed (random) bytes never hold them by chance.
IMAGE_SIGNATURES = {"PNG": b"\x89PNG\r\n\x1a\n", "numpy array": b"\x93NUMPY", "WebP": b"WEBPVP8"}
JPEG_START = b"\xff\xd8\xff"  # three bytes: random bytes hold them once in 16 MB, so a match must also decode
PEOPLE = ["obama/obama1.jpg", "biden/biden1.jpg", "kit_harington/kit1.jpg"]


@pytest.fixture
def analyzer(detector, aligner, model_process, store):
    """With the model process itself as the embedder, as the server runs: what lands on disk is then the
    server's alone (the recorded embedder of the other tests writes its recording in .cache/, which would
    stand between the server and this check)."""
    from recognition.matching.matcher import Matcher
    from recognition.pipeline.analyzer import FaceAnalyzer
    from tests.conftest import MODEL

    return FaceAnalyzer(detector, aligner, model_process, Matcher(store, MODEL))


def big_png(relative: str) -> bytes:
    """A photo upscaled to several MB: well past Werkzeug's and waitress's spill-to-disk sizes."""
    image = load_photo(relative)
    scale = 2400 / max(image.shape[:2])
    ok, data = cv2.imencode(".png", cv2.resize(image, None, fx=scale, fy=scale), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok and len(data) > 2 * 1024 * 1024
    return data.tobytes()


def holds_jpeg(data: bytes) -> bool:
    """A JPEG starts with three bytes any ciphertext may hold; one that is really there also decodes."""
    at = data.find(JPEG_START)
    while at >= 0:
        if cv2.imdecode(np.frombuffer(data[at:], np.uint8), cv2.IMREAD_GRAYSCALE) is not None:
            return True
        at = data.find(JPEG_START, at + 1)
    return False


def holds_vector(data: bytes, vector: np.ndarray) -> bool:
    head = np.asarray(vector[:8])
    return any(head.astype(dtype).tobytes() in data for dtype in ("<f4", ">f4", "<f8", ">f8"))


def files_under(folder: Path, since: float, others: Path = Path("/nonexistent"), ours: Path = Path("/nonexistent")):
    """Files under folder changed since since; not those of other pytest runs on this machine (under others,
    pytest's folder of runs, but not under ours, this run's): their test videos are no upload of ours."""
    for path in folder.rglob("*"):
        if others in path.parents and ours not in path.parents:
            continue
        try:
            if path.is_file() and path.stat().st_mtime >= since:
                yield path, path.read_bytes()
        except OSError:  # another process's file vanished or is unreadable: not ours
            continue


def enroll_over_http(server, photos) -> list[int]:
    statuses = []
    for relative in photos:
        response = requests.post(f"{server.url}/enroll", files={"image": ("face.png", big_png(relative), "image/png")},
                                 data={"name": relative.split("/")[0]}, timeout=60)
        statuses.append(response.status_code)
    return statuses


def test_uploads_never_touch_the_temp_dir(services, live_server, monkeypatch, tmp_path):
    """With the temp dir pointing at a plain file, any temporary file would fail the request."""
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    with pytest.raises(OSError):
        tempfile.TemporaryFile()  # the trap works
    server = live_server(create_app(services))
    assert enroll_over_http(server, PEOPLE) == [201, 201, 201]
    assert [f["name"] for f in requests.get(f"{server.url}/faces", timeout=10).json()["faces"]] == [
        "obama", "biden", "kit_harington"]


def test_no_image_bytes_or_clear_vectors_under_the_data_dir_or_temp_dir(services, store, live_server, caplog,
                                                                         tmp_path_factory):
    started = time.time() - 1
    runs = (tmp_path_factory.getbasetemp().parent, tmp_path_factory.getbasetemp())
    server = live_server(create_app(services))
    with caplog.at_level(logging.DEBUG):
        assert enroll_over_http(server, PEOPLE) == [201, 201, 201]
        # Faces that are only looked at, not enrolled (a repeat, which is refused), leave the file as it was.
        stored = stored_bytes(store)
        assert enroll_over_http(server, ["obama/obama2.jpg"]) == [409]
        assert stored_bytes(store) == stored
    vectors = [v for identity in store.identities() for v in identity.embeddings]
    assert len(vectors) >= 3
    scanned = 0
    for folder in (store.data_dir, Path(tempfile.gettempdir())):
        for path, data in files_under(folder, started, *runs):
            scanned += 1
            for kind, signature in IMAGE_SIGNATURES.items():
                assert signature not in data, f"{path} holds {kind} data"
            assert not holds_jpeg(data), f"{path} holds JPEG data"
            assert not any(holds_vector(data, v) for v in vectors), f"{path} holds an embedding in the clear"
    assert scanned >= 2  # at least the store and the secret were looked at
    logged = caplog.text
    assert not any(f"{v[0]:.4f}" in logged and f"{v[1]:.4f}" in logged for v in vectors)
    assert sorted(os.listdir(store.data_dir)) == [".lock", "faces", "installation_secret"]
