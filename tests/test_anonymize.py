"""POST /anonymize over real HTTP with the real detector and model: the photo comes back with its faces
hidden (pixelated or avatars) so that the model no longer knows anyone in it; with hide=unknown a known
person stays recognisable and a stranger does not; nothing sent is kept anywhere."""
import os
import tempfile

import cv2
import numpy as np
import pytest
import requests

from recognition.faces import Box
from tests.conftest import fixture_path, load_photo, stored_bytes
from webapp import create_app

GROUP = "group/obama_and_biden.jpg"


def anonymized(server, photo: str, **fields) -> np.ndarray:
    answer = requests.post(server.url + "/anonymize", files={"image": fixture_path(f"faces/{photo}").read_bytes()},
                           data=fields, timeout=120)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg", answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    return cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)


def enroll(analyzer, photo: str, name: str):
    return analyzer.matcher.enroll(analyzer.embed(load_photo(photo))[1][0], name)


def names_in(analyzer, image) -> set:
    return {face.name for face in analyzer.analyze(image) if face.known}


@pytest.mark.parametrize("hide_with", ["pixels", "avatar"])
def test_nobody_is_recognisable_in_the_photo_sent_back(services, analyzer, live_server, hide_with):
    server = live_server(create_app(services))
    barack = enroll(analyzer, "obama/obama1.jpg", "Barack")
    joe = enroll(analyzer, "biden/biden1.jpg", "Joe")
    original = load_photo(GROUP)
    assert names_in(analyzer, original) == {"Barack", "Joe"}
    hidden = anonymized(server, GROUP, **{"with": hide_with})
    assert hidden.shape == original.shape
    assert names_in(analyzer, hidden) == set()
    # An independent detector (dlib's HOG, as the stream's blur is checked) finds them in the original; in
    # the photo sent back it finds nothing, or (avatars) cartoon heads the model takes for neither of them.
    import dlib

    hog = dlib.get_frontal_face_detector()
    people = np.stack([barack.embeddings[0], joe.embeddings[0]])

    def people_found(image) -> int:
        boxes = [Box(r.left(), r.top(), r.width(), r.height()) for r in hog(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), 1)]
        if not boxes:
            return 0
        vectors = np.asarray(analyzer.embedder.embed(analyzer.chips(image, boxes)))
        return int(((vectors @ people.T).max(axis=1) >= analyzer.matcher.threshold).sum())

    assert people_found(original) == 2
    assert people_found(hidden) == 0


def test_hide_unknown_keeps_the_known_and_hides_the_stranger(services, analyzer, live_server):
    server = live_server(create_app(services))
    enroll(analyzer, "obama/obama1.jpg", "Barack")
    hidden = anonymized(server, GROUP, hide="unknown", **{"with": "avatar"})
    assert names_in(analyzer, hidden) == {"Barack"}
    enroll(analyzer, "biden/biden2.jpg", "Joe")  # known now: he would be named, were his face still there
    assert names_in(analyzer, load_photo(GROUP)) == {"Barack", "Joe"}
    assert names_in(analyzer, hidden) == {"Barack"}


def test_nothing_sent_is_kept(services, store, live_server, monkeypatch, tmp_path):
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))  # any temporary file fails the request
    server = live_server(create_app(services))
    before, listing = stored_bytes(store), sorted(os.listdir(store.data_dir))
    for hide_with in ("pixels", "avatar"):
        anonymized(server, GROUP, **{"with": hide_with})
    assert stored_bytes(store) == before and sorted(os.listdir(store.data_dir)) == listing


def test_bad_requests_say_what_was_wrong(services, live_server):
    server = live_server(create_app(services))
    photo = fixture_path(f"faces/{GROUP}").read_bytes()
    for fields, files, status, words in [({"hide": "some"}, {"image": photo}, 400, "'hide'"),
                                         ({"with": "emoji"}, {"image": photo}, 400, "'with'"),
                                         ({}, {}, 400, "'image'"),
                                         ({}, {"image": b"<html>not a photo</html>"}, 415, "'image'")]:
        answer = requests.post(server.url + "/anonymize", files=files, data=fields, timeout=60)
        assert answer.status_code == status and words in answer.json()["error"], (fields, answer.text)
