"""Live recognition frame after frame, with the real detector and model: tracks, voting, visitors."""
import cv2
import numpy as np
import pytest

from tests.support.clips import letterbox
from recognition.live.recognizer import LiveRecognizer
from tests.conftest import fixture_path, load_photo, wait_until, write_clip
from tests.test_store import opened_plaintexts as opened_records

SIZE = (640, 480)


def frame_of(*photos: str) -> np.ndarray:
    """The photos side by side in one camera frame."""
    parts = [letterbox(load_photo(p), (SIZE[0] // len(photos), SIZE[1])) for p in photos]
    return np.hstack(parts)


def enroll(analyzer, photo: str, name: str):
    _, embeddings = analyzer.embed(load_photo(photo))
    return analyzer.matcher.enroll(embeddings[0], name)


def play(recognizer: LiveRecognizer, frames, start: float = 0.0, step: float = 0.1):
    """Each frame through the recognizer as the worker does it; the faces reported after each."""
    seen = []
    for index, frame in enumerate(frames):
        recognizer.advance(frame, start + index * step)
        seen.append(recognizer.observe())
    return seen


def dimmed_until_unmatched(analyzer, photo: str) -> np.ndarray:
    """The photo's frame made dark and blurred just enough that the face is still found but, on its own,
    no longer matches (a bad frame: motion blur in dim light)."""
    frame = frame_of(photo)
    for level in range(1, 30):
        bad = cv2.GaussianBlur((frame * (1 - level * 0.025)).astype(np.uint8), (0, 0), 0.4 * level)
        faces = analyzer.analyze(bad)
        if len(faces) == 1 and not faces[0].known:
            return bad
    pytest.fail(f"no degraded frame of {photo} was still detected yet unmatched")


def test_a_track_keeps_its_name_through_a_missed_and_a_poor_frame(analyzer):
    barack = enroll(analyzer, "obama/obama3.jpg", "Barack")
    good, missed, poor = frame_of("obama/obama2.jpg"), np.zeros((SIZE[1], SIZE[0], 3), np.uint8), None
    poor = dimmed_until_unmatched(analyzer, "obama/obama2.jpg")
    recognizer = LiveRecognizer(analyzer, recheck_after=0.0)  # look at him in every frame: the dips are seen
    seen = play(recognizer, [good, good, missed, good, poor, good])
    assert [len(faces) for faces in seen] == [1, 1, 0, 1, 1, 1]
    named = [faces[0] for faces in seen if faces]
    assert len({face.track for face in named}) == 1  # one track throughout, the missed frame included
    assert all(face.identity_hash == barack.hash and face.name == "Barack" for face in named)
    assert all(face.visitor is None for face in named)


def test_a_stranger_is_never_named_and_keeps_one_visitor_id(analyzer):
    enroll(analyzer, "obama/obama3.jpg", "Barack")
    enroll(analyzer, "biden/biden2.jpg", "Joe")
    recognizer = LiveRecognizer(analyzer, recheck_after=0.0)
    stranger = [frame_of("kit_harington/kit1.jpg")] * 6
    gone = [np.zeros((SIZE[1], SIZE[0], 3), np.uint8)] * 6  # he leaves: his track ends
    back = [frame_of("kit_harington/kit2.jpg")] * 3  # and comes back, in another photo
    seen = play(recognizer, stranger + gone + back)
    faces = [face for frame in seen for face in frame]
    assert faces and all(not face.known for face in faces)
    first, later = seen[0][0], seen[-1][0]
    assert first.track != later.track and first.visitor is not None
    assert later.visitor == first.visitor  # the same stranger came back


def test_two_faces_never_share_an_identity_and_a_named_track_is_not_embedded_every_frame(analyzer):
    barack = enroll(analyzer, "obama/obama3.jpg", "Barack")
    recognizer = LiveRecognizer(analyzer, recheck_after=60.0)
    seen = play(recognizer, [frame_of("obama/obama1.jpg", "obama/obama2.jpg")] * 8)
    for faces in seen:
        assert len(faces) == 2 and len({face.track for face in faces}) == 2
        assert [face.identity_hash for face in faces].count(barack.hash) <= 1
    assert [face.identity_hash for face in seen[-1]].count(barack.hash) == 1
    # The named face was embedded until it was named, then left alone; the other stays undecided and
    # is looked at each frame.
    assert recognizer.embedded < 2 * len(seen)


def test_a_face_that_changes_under_its_track_is_looked_at_again_at_once(analyzer):
    barack = enroll(analyzer, "obama/obama3.jpg", "Barack")
    joe = enroll(analyzer, "biden/biden2.jpg", "Joe")
    recognizer = LiveRecognizer(analyzer, recheck_after=60.0)
    # A cut in a video: the same place on screen, another person.
    seen = play(recognizer, [frame_of("obama/obama2.jpg")] * 3 + [frame_of("biden/biden1.jpg")] * 3)
    assert [f.identity_hash for f in seen[2]] == [barack.hash]
    assert all(face.identity_hash in (joe.hash, None) for faces in seen[3:] for face in faces)
    assert [f.identity_hash for f in seen[-1]] == [joe.hash]


def clip_frames(first: int, last: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(fixture_path("video/short_hamilton_clip.mp4")))
    frames, index = [], 0
    while index <= last:
        ok, frame = capture.read()
        if not ok:
            break
        if index >= first:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


def test_faces_in_profile_are_found_in_the_fixture_clip(detector):
    """Lin-Manuel Miranda turned away (frame 120) and the audience (frames 220-260) show faces in profile,
    which the frontal cascades miss."""
    turned = clip_frames(120, 120)[0]
    assert detector.detect(turned) == []
    assert [d.profile for d in detector.detect_all(turned)] == [True]
    audience = clip_frames(230, 230)[0]
    found = detector.detect_all(audience)
    assert sum(d.profile for d in found) >= 2 and sum(not d.profile for d in found) >= 1


def test_a_track_keeps_the_name_it_earned_when_the_face_turns_to_profile(analyzer):
    lin = enroll(analyzer, "lin_manuel_miranda/lin1.png", "Lin")
    recognizer = LiveRecognizer(analyzer)
    step = 2 / 29.97
    seen = play(recognizer, clip_frames(82, 210)[::2], step=step)  # he faces the camera, turning now and then
    faces = [face for frame in seen for face in frame]
    his = next(face.track for face in faces if face.identity_hash == lin.hash)
    followed = [face for face in faces if face.track == his]
    named_at = next(i for i, face in enumerate(followed) if face.name == "Lin")
    first_seen = next(i for i, frame in enumerate(seen) if any(face.track == his for face in frame))
    first_named = next(i for i, frame in enumerate(seen) if any(f.track == his and f.name == "Lin" for f in frame))
    # Named within half a second of being seen (issue 11's bar for the live loop). His first views
    # here are 0.927-0.929 like his one enrolled photo, under the 0.93 threshold: they do not count.
    assert (first_named - first_seen) * step <= 0.5 and len(followed) > 40
    assert all(face.identity_hash == lin.hash for face in followed[named_at:])  # never unknown once named
    assert any(face.profile for face in followed[named_at:])  # a profile view keeps the name it earned
    assert all(face.identity_hash in (lin.hash, None) for face in faces)  # nobody else is named


def test_the_face_a_track_offers_for_enrolling_is_its_best_recent_view(analyzer):
    enroll(analyzer, "obama/obama3.jpg", "Barack")  # so that "poor" means too poor to be matched
    sharp = frame_of("obama/obama2.jpg")
    poor = dimmed_until_unmatched(analyzer, "obama/obama2.jpg")
    recognizer = LiveRecognizer(analyzer, recheck_after=0.0)  # every view is embedded, the poor ones too
    seen = play(recognizer, [sharp, sharp, poor, poor, poor])
    offered = seen[-1][0]  # the camera now shows the poor view; enrolling (or "not") takes the sharp one
    _, sharp_vectors = analyzer.embed(sharp)
    _, poor_vectors = analyzer.embed(poor)
    assert float(offered.embedding @ sharp_vectors[0]) > 0.999
    assert float(offered.embedding @ poor_vectors[0]) < 0.99


def test_visitor_ids_are_never_written(camera_services, tmp_path, store):
    from webapp import create_app

    clip = write_clip(tmp_path / "cam.avi", ["kit_harington/kit1.jpg"], seconds_each=20.0, fps=20)
    client = create_app(camera_services(str(clip))).test_client()
    body = wait_until(lambda: [f for f in client.get("/hash").get_json()["faces"] if f["visitor"]], timeout=30)
    visitor = body[0]["visitor"].encode()
    photo = {"image": (fixture_path("faces/biden/biden1.jpg").open("rb"), "biden1.jpg")}
    assert client.post("/enroll", data=photo).status_code == 201  # the store is written meanwhile
    written = [p.read_bytes() for p in store.data_dir.rglob("*") if p.is_file()] + opened_records(store)
    assert written and not any(visitor in data for data in written)
