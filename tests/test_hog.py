"""dlib's HOG detector behind the detector seam on a street crowd made from the fixture photos (the photos
themselves: tests/test_detector.py, with every backend)."""
import numpy as np
import pytest

from recognition.models.detectors.blazeface import iou


@pytest.fixture(scope="module")
def hog():
    from recognition.models.detectors import FaceDetector, make_detector

    detector = make_detector("hog", min_face=40)
    assert isinstance(detector, FaceDetector) and detector.name == "hog"
    return detector


@pytest.fixture(scope="module")
def crowd_frames():
    from tests.crowd import CrowdScene

    return CrowdScene(faces=(50, 120)).frames(3, step=25)  # 1920x1080, a second apart


def test_blank_grey_has_no_face(hog):
    assert hog.detect(np.full((480, 640, 3), 127, dtype=np.uint8)) == []


def test_most_faces_of_a_street_crowd_found_where_they_are(hog, crowd_frames):
    from tests.crowd import found_and_false

    truth = sum(len(frame.faces) for frame in crowd_frames)
    found = false = 0
    for frame in crowd_frames:
        boxes = hog.detect(frame.image)
        hits, invented = found_and_false(boxes, frame.faces)
        found, false = found + hits, false + invented
        for true in frame.faces:  # boxes in the frame's pixels, reaching the forehead and the chin
            best = max((iou(b.as_list(), true.as_list()) for b in boxes), default=0.0)
            assert best == 0.0 or best >= 0.5, (true.as_list(), [b.as_list() for b in boxes])
    assert found >= 0.9 * truth, f"{found} of {truth} faces found"
    assert false == 0


def test_followed_faces_found_again_near_their_last_boxes(hog, crowd_frames):
    frame = crowd_frames[0]
    near = hog.detect_near(frame.image, frame.faces)
    for true in frame.faces:
        assert any(iou(d.box.as_list(), true.as_list()) >= 0.5 for d in near), true.as_list()
    assert hog.detect_near(frame.image, []) == []
    assert hog.detect_profiles(frame.image, [d.box for d in near]) == []
