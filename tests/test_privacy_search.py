"""The privacy search (recognition/live/shield.py) on a 1080p street crowd made at test time: faces
50 to 120 px tall, walking, some dark or tilted. Searches run on chosen frames of the scene, with the
scene's own clock, so what is measured is where faces are, never how fast a machine is."""
import numpy as np
import pytest

from recognition.faces import Box
from recognition.live.privacy import PrivacyFilter
from recognition.live.shield import FaceShield
from tests.crowd import CrowdScene


@pytest.fixture(scope="module")
def blazeface():
    from recognition.models.detectors import make_detector

    return make_detector("blazeface", min_face=40)


def covered(face: Box, covers: list[Box]) -> float:
    """The share of the face's pixels inside one cover or another."""
    mask = np.zeros((face.h, face.w), bool)
    for c in covers:
        x0, y0 = max(0, c.x - face.x), max(0, c.y - face.y)
        x1, y1 = min(face.w, c.x + c.w - face.x), min(face.h, c.y + c.h - face.y)
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return float(mask.mean())


def near(face: Box, faces: list[Box], distance: int = 60) -> bool:
    return any(abs(face.x - b.x) < distance and abs(face.y - b.y) < distance for b in faces)


def shield_after(scene: CrowdScene, blazeface, searched: list[int]) -> FaceShield:
    shield = FaceShield(feed=None, finder=blazeface)
    for index in searched:
        shield.search(scene.frame(index).image, index, index / scene.fps)
    return shield


def test_every_face_of_a_searched_crowd_frame_is_hidden(blazeface):
    scene = CrowdScene(seed=21)
    shield = shield_after(scene, blazeface, [100])
    frame = scene.frame(100)
    covers = [h.cover for h in shield.hidden_at(frame.image, 100 / scene.fps, max_lag=0.6)]
    assert len(frame.faces) >= 5
    assert [round(covered(face, covers), 2) for face in frame.faces] == [1.0] * len(frame.faces)


def test_faces_that_move_between_searches_stay_hidden(blazeface):
    """Searched at frames 60 and 64, shown at frame 74 (0.4 s on, at 25 fps): every face still covered
    where it walked to, the faces that came nearer and grew included."""
    scene = CrowdScene(seed=22, faces=(50, 140))
    shield = shield_after(scene, blazeface, [60, 64])
    later = scene.frame(74)
    covers = [h.cover for h in shield.hidden_at(later.image, 74 / scene.fps, max_lag=0.6)]
    seen_before = scene.frame(64).faces
    followed = [f for f in later.faces if near(f, seen_before)]
    assert len(followed) >= 4
    assert min(covered(face, covers) for face in followed) >= 0.98


def test_without_a_recent_search_the_whole_frame_is_hidden(blazeface):
    scene = CrowdScene(seed=23)
    frame = scene.frame(50)
    shield = FaceShield(feed=None, finder=blazeface)
    privacy = PrivacyFilter("unknown", shield, max_lag=0.6)
    whole = [Box(0, 0, 1920, 1080)]
    assert privacy.regions(frame.image, 2.0, (), float("inf")) == whole  # nothing searched yet: just started
    shield.search(frame.image, 50, 2.0)
    assert privacy.regions(frame.image, 2.0, (), float("inf")) != whole
    assert privacy.regions(scene.frame(70).image, 2.8, (), float("inf")) == whole  # the search fell 0.8 s behind
    other = CrowdScene(seed=99).frame(52).image  # a cut to another scene: its faces are not where the search saw them
    assert privacy.regions(other, 2.08, (), float("inf")) == whole


def test_a_face_missed_by_one_search_stays_hidden_for_a_second(blazeface):
    scene = CrowdScene(seed=24)
    shield = shield_after(scene, blazeface, [40])
    empty = CrowdScene(seed=24, people=0).frame(45).image  # the same street, nobody found in this search
    shield.search(empty, 45, 45 / scene.fps)
    at = 48 / scene.fps
    covers = [h.cover for h in shield.hidden_at(scene.frame(48).image, at, max_lag=0.6)]
    followed = [f for f in scene.frame(48).faces if near(f, scene.frame(40).faces)]
    assert len(followed) >= 4
    assert min(covered(face, covers) for face in followed) >= 0.98
    shield.search(empty, 80, 80 / scene.fps)  # 1.6 s after the faces were last found: let go
    assert not any(near(held.box, scene.frame(40).faces) for held in shield.latest.faces)
