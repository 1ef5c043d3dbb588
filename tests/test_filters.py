"""Filters on real footage: a man in the fixture clip turning his head by about 50 degrees and back; the
sunglasses stay on his eyes in every frame, the hat above his brows."""
import numpy as np
import pytest

from recognition.live.filters import draw_filter
from tests.footage import turning_frames


@pytest.fixture(scope="module")
def turning(detector, pose_model):
    """(frame, the 68 landmarks of its largest face) of each frame of the turn where a face is found."""
    found = []
    for frame in turning_frames():
        boxes = detector.detect(frame)
        if boxes:
            box = max(boxes, key=lambda b: b.area)
            found.append((frame, pose_model.landmarks(frame, box)))
    assert len(found) >= 10
    return found


def test_the_sunglasses_sit_on_the_eyes_as_the_head_turns(turning):
    for frame, points in turning:
        canvas = frame.copy()
        placed = draw_filter(canvas, points, "sunglasses")
        apart = np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0))
        for lens, eye in zip(placed.points, (points[36:42], points[42:48])):
            assert np.linalg.norm(np.array(lens) - eye.mean(axis=0)) < 0.1 * apart
            for x, y in np.round(eye).astype(int):  # every point of each eye is under a dark lens
                assert canvas[y, x].max() <= 30, (x, y, canvas[y, x])


def test_the_hat_sits_above_the_brows_along_the_face(turning):
    for frame, points in turning:
        canvas = frame.copy()
        (brim,) = draw_filter(canvas, points, "hat").points
        brows, chin = points[17:27].mean(axis=0), points[8]
        up = (brows - chin) / np.linalg.norm(brows - chin)
        above = float(np.dot(np.array(brim) - brows, up))
        assert 0.1 * np.linalg.norm(brows - chin) < above < 0.6 * np.linalg.norm(brows - chin)


def test_an_unknown_filter_is_refused(turning):
    frame, points = turning[0]
    with pytest.raises(ValueError, match="sunglasses"):
        draw_filter(frame.copy(), points, "moustache")
