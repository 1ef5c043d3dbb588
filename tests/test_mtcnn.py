"""MTCNN (--detector mtcnn): the mtcnn package's networks, run in the model process from the weights that
ship inside the package, behind the detector seam."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.faces import Box, centre_inside
from recognition.models.detectors import FaceDetector, make_detector
from recognition.models.detectors.mtcnn import MtcnnDetector
from recognition.models.embedder_process import EmbedderProcess
from tests.conftest import MODEL, ROOT, load_photo
from tests.test_detector import SINGLE_FACE_PHOTOS

pytestmark = pytest.mark.slow

GROUP_PHOTOS = ["group/obama_and_biden.jpg", "group/kit_with_rose.jpg", "group/two_people.jpg"]
CHILD_SITE = ROOT / "tests" / "child_site"  # sitecustomize.py: conditions put on a model process
UNROUTABLE = "http://127.0.0.1:9"  # the discard port: nothing answers there


@pytest.fixture(scope="module")
def mtcnn(model_process) -> FaceDetector:
    return make_detector("mtcnn", mtcnn=model_process)


def mtcnn_package() -> Path:
    spec = importlib.util.find_spec("mtcnn")  # without importing it (and TensorFlow) here
    return Path(list(spec.submodule_search_locations)[0]).resolve()


@pytest.fixture
def child_conditions(monkeypatch, tmp_path):
    """Puts tests/child_site's conditions (the CHILD_SITE_* variables) on the processes started by the test;
    returns the log they write."""
    log = tmp_path / "child_site.log"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(CHILD_SITE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CHILD_SITE_LOG", str(log))
    return log


def notes(log: Path, pid: int) -> list[str]:
    prefix = f"{pid} "
    return [line[len(prefix):] for line in log.read_text().splitlines() if line.startswith(prefix)]


def test_it_is_a_face_detector(mtcnn):
    assert isinstance(mtcnn, FaceDetector) and mtcnn.name == "mtcnn"


@pytest.mark.parametrize("photo", SINGLE_FACE_PHOTOS)
def test_one_face_per_portrait_where_haar_sees_it_and_about_its_size(mtcnn, detector, photo):
    image = load_photo(photo)
    boxes = mtcnn.detect(image)
    assert len(boxes) == 1, f"{photo}: {[b.as_list() for b in boxes]}"
    box, haar = boxes[0], detector.detect(image)[0]
    assert 0 <= box.x and box.x + box.w <= image.shape[1] and 0 <= box.y and box.y + box.h <= image.shape[0]
    assert centre_inside(box, haar) and centre_inside(haar, box)
    assert 0.85 <= box.h / haar.h <= 1.3, (box.as_list(), haar.as_list())  # forehead to chin, as Haar's
    assert [d.box for d in mtcnn.detect_all(image)] == boxes
    assert mtcnn.detect_profiles(image, boxes) == []


@pytest.mark.parametrize("photo", GROUP_PHOTOS)
def test_both_people_found_in_group_photos(mtcnn, detector, photo):
    boxes = mtcnn.detect(load_photo(photo))
    people = detector.detect(load_photo(photo))
    assert len(people) == 2
    for person in people:  # each found once, where Haar finds them
        assert sum(centre_inside(box, person) for box in boxes) == 1, ([b.as_list() for b in boxes], person)
    assert [b.area for b in boxes] == sorted((b.area for b in boxes), reverse=True)  # largest first


def test_a_candidate_not_found_again_closer_is_no_face(mtcnn, model_process):
    image = load_photo("lin_manuel_miranda/lin1.png")  # at half size, a patch of his hair scores 0.97
    assert len(mtcnn.candidates(image)) == 2 and len(mtcnn.detect(image)) == 1
    assert len(MtcnnDetector(model_process, confirm=False).detect(image)) == 2


def test_blank_image_has_no_face(mtcnn):
    blank = np.full((480, 640, 3), 127, dtype=np.uint8)
    assert mtcnn.detect(blank) == []
    assert mtcnn.detect_near(blank, [Box(200, 150, 120, 120)]) == []


def test_boxes_are_in_original_coordinates_of_a_doubled_image(mtcnn):
    image = load_photo("obama/obama1.jpg")
    doubled = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2))
    small, large = mtcnn.detect(image)[0], mtcnn.detect(doubled)[0]
    assert abs(large.x - 2 * small.x) <= 12 and abs(large.y - 2 * small.y) <= 12
    assert abs(large.w - 2 * small.w) <= 16


def test_every_face_of_an_hd_crowd_frame_is_found_with_min_face_40(mtcnn):
    from tests.crowd import CrowdScene

    frame = CrowdScene().frame(0)  # 1920x1080, faces 50 to 120 px: the image is searched at half size
    boxes = mtcnn.detect(frame.image)
    assert len(frame.faces) >= 5
    for face in frame.faces:
        assert sum(centre_inside(box, face) for box in boxes) == 1, (face, [b.as_list() for b in boxes])
    assert len(boxes) == len(frame.faces)


def test_followed_faces_are_found_near_where_they_were(mtcnn):
    image = load_photo("group/two_people.jpg")
    faces = mtcnn.detect(image)
    moved = [Box(b.x + b.w // 5, b.y - b.h // 6, b.w, b.h) for b in faces]  # where they were a moment ago
    near = mtcnn.detect_near(image, moved)
    assert len(near) == len(faces) and not any(d.profile for d in near)
    for face in faces:
        assert sum(centre_inside(d.box, face) and centre_inside(face, d.box) for d in near) == 1
        found = next(d.box for d in near if centre_inside(d.box, face))
        assert 0.8 <= found.h / face.h <= 1.25
    assert mtcnn.detect_near(image, []) == []


def test_mtcnn_runs_offline_from_its_packages_weights(weights_dir, child_conditions, monkeypatch):
    monkeypatch.setenv("CHILD_SITE_OFFLINE", "1")
    monkeypatch.setenv("CHILD_SITE_NOTE_OPENS", ".lz4")
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, UNROUTABLE)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    process = EmbedderProcess(MODEL, weights_dir, timeout=120).load()
    try:
        pid = process._process.pid
        boxes = make_detector("mtcnn", mtcnn=process).detect(load_photo("obama/obama1.jpg"))
        weights = Path(process.mtcnn_weights()).resolve()
    finally:
        process.stop()
    assert len(boxes) == 1
    package = mtcnn_package()
    assert weights == package / "assets" / "weights"
    seen = notes(child_conditions, pid)
    assert seen[0].startswith("on: offline=True")  # the network was off in the model process
    assert not [line for line in seen if line.startswith("refused")], seen  # and nothing tried to reach it
    opened = sorted(Path(line.split(" ", 1)[1]) for line in seen if line.startswith("opened"))
    assert opened == [weights / name for name in ("onet.lz4", "pnet.lz4", "rnet.lz4")]  # the package's files


def test_a_model_process_that_cannot_load_mtcnn_says_why_and_goes_on_embedding(weights_dir, child_conditions,
                                                                                monkeypatch):
    monkeypatch.setenv("CHILD_SITE_HIDE", "lz4")  # as if mtcnn had been installed without its dependencies
    process = EmbedderProcess(MODEL, weights_dir, timeout=60).load()
    try:
        image = load_photo("obama/obama1.jpg")
        detector = make_detector("mtcnn", mtcnn=process)
        for _ in range(2):  # the failed load is remembered, not retried on every frame
            with pytest.raises(RuntimeError, match="'lz4' is not installed.*make install"):
                detector.detect(image)
        assert process.embed([np.zeros((150, 150, 3), np.uint8)]).shape == (1, 128)
        assert process.status.state == "ready" and process.status.restarts == 0
    finally:
        process.stop()
