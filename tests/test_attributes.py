"""Age, gender and emotion (--attributes, issue 11 part 3), from the packaged models, run in the model
process, on the fixture photos over the HTTP API."""
import io
from dataclasses import replace

import pytest

from recognition.models.attributes import EMOTIONS
from tests.conftest import fixture_path

pytestmark = pytest.mark.slow

# Who the fixture people are (public figures): the gender the model should give each.
GENDERS = {"obama": "male", "biden": "male", "kit_harington": "male", "rose_leslie": "female",
           "alex_lacamoire": "male", "lin_manuel_miranda": "male"}


def frame(photo: str) -> dict:
    return {"frame": (io.BytesIO(fixture_path(f"faces/{photo}").read_bytes()), photo.split("/")[-1])}


@pytest.fixture
def with_attributes(services):
    from webapp import create_app

    return create_app(replace(services, attributes=True)).test_client()


def test_gender_is_right_for_every_fixture_person_and_age_and_emotion_are_given(with_attributes):
    checked = 0
    for person, gender in GENDERS.items():
        for path in sorted(fixture_path(f"faces/{person}").iterdir()):
            answer = with_attributes.post("/process-frame", data=frame(f"{person}/{path.name}"))
            if answer.status_code == 422:  # no face found (a face cut by the frame's edge)
                continue
            body = answer.get_json()
            assert answer.status_code == 200, body
            assert body["gender"]["value"] == gender, (path.name, body["gender"])
            assert 15 <= body["age"]["value"] <= 80 and 0 <= body["age"]["confidence"] <= 1
            assert body["emotion"]["value"] in EMOTIONS and 0 < body["emotion"]["confidence"] <= 1
            assert all({"age", "gender", "emotion"} <= set(face) for face in body["faces"])
            checked += 1
    assert checked >= 15


def test_every_face_of_a_group_photo_gets_them_and_they_are_off_by_default(with_attributes, client):
    photo = {"image": (io.BytesIO(fixture_path("faces/group/kit_with_rose.jpg").read_bytes()), "group.jpg")}
    faces = with_attributes.post("/extract_embeddings_from_image", data=photo).get_json()["embeddings"]
    assert len(faces) >= 2 and {face["gender"]["value"] for face in faces} == {"male", "female"}
    body = client.post("/process-frame", data=frame("obama/obama1.jpg")).get_json()  # the same parts, without
    assert "age" not in body and not any("gender" in face for face in body["faces"])


def test_the_faces_on_camera_get_them_per_track(analyzer, store, tmp_path):
    from camera.capture import CaptureThread
    from camera.frames import FrameBuffer
    from camera.sources import parse_source
    from recognition.live.attributes import TrackAttributes
    from recognition.live.worker import RecognitionWorker
    from tests.conftest import wait_until, write_clip
    from webapp import create_app
    from webapp.parts import Parts

    clip = write_clip(tmp_path / "rose.avi", ["rose_leslie/rose1.jpg"], seconds_each=8.0, fps=15)
    frames = FrameBuffer("rose")
    capture = CaptureThread(parse_source(str(clip)), frames).start()
    worker = RecognitionWorker(frames, analyzer, attributes=TrackAttributes(analyzer)).start()
    try:
        client = create_app(Parts.build(store=store, analyzer=analyzer, frames=frames, worker=worker)).test_client()

        def rose_seen():
            faces = client.get("/hash").get_json()["faces"]
            return faces and faces[0].get("gender", {}).get("value") == "female" and faces[0]["track"] is not None

        assert wait_until(rose_seen, timeout=30)
        face = client.get("/hash").get_json()["faces"][0]
        assert face["emotion"]["value"] in EMOTIONS and 15 <= face["age"]["value"] <= 80
    finally:
        worker.stop(timeout=5)
        capture.stop(timeout=5)


def test_register_keeps_them_sealed_with_the_identity_and_a_delete_removes_them(with_attributes, store, services):
    from tests.conftest import stored_bytes
    from webapp import create_app

    photo = {"image": (io.BytesIO(fixture_path("faces/rose_leslie/rose1.jpg").read_bytes()), "rose.jpg"),
             "name": "Rose"}
    registered = with_attributes.post("/register", data=photo)
    assert registered.status_code == 201, registered.get_json()
    identity = registered.get_json()["id"]
    shown = with_attributes.get(f"/faces/{identity}").get_json()
    assert shown["attributes"]["gender"]["value"] == "female" and shown["name"] == "Rose"
    assert b"female" not in stored_bytes(store) and b"gender" not in stored_bytes(store)  # sealed
    keyed = create_app(replace(services, attributes=True, api_key="k3y")).test_client()
    # With a key, only its holders see them (or anything else of the person).
    assert keyed.get(f"/faces/{identity}").status_code == 401
    assert keyed.get("/faces").status_code == 401
    assert keyed.get(f"/faces/{identity}", headers={"X-API-Key": "k3y"}).get_json()["attributes"]
    assert store.get(identity).attributes is not None
    assert with_attributes.patch(f"/faces/{identity}", json={"name": "Rose L."}).status_code == 200
    assert with_attributes.get(f"/faces/{identity}").get_json()["attributes"] == shown["attributes"]  # kept
    assert with_attributes.delete(f"/faces/{identity}").status_code == 200
    assert with_attributes.get(f"/faces/{identity}").status_code == 404
    assert all(i.attributes is None for i in store.identities())


def test_the_stream_shows_them_under_the_face():
    import numpy as np

    from recognition.faces import Box, FaceObservation
    from recognition.live.annotate import attributes_label, draw_faces

    traits = {"age": {"value": 33.4, "confidence": 0.6}, "gender": {"value": "female", "confidence": 0.99},
              "emotion": {"value": "happy", "confidence": 0.8}}
    plain = FaceObservation(Box(100, 60, 80, 80), None, "f" * 64, "Rose")
    shown = FaceObservation(Box(100, 60, 80, 80), None, "f" * 64, "Rose", attributes=traits)
    assert attributes_label(shown) == "33, female, happy" and attributes_label(plain) == ""
    frame = np.full((300, 400, 3), 90, np.uint8)
    with_traits, without = draw_faces(frame, [shown]), draw_faces(frame, [plain])
    below = (slice(144, 175), slice(100, 260))  # under the box
    assert (with_traits[below] != without[below]).any() and (without[below] == 90).all()
