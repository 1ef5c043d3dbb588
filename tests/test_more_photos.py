"""POST /faces/<hash>/photos: more photos of a person, each checked, with the real model (issue 11, part 1)."""
import io

import cv2
import numpy as np

from tests.conftest import fixture_path, load_photo
from tests.test_live import clip_frames


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def photo_file(relative: str) -> tuple:
    return (fixture_path(f"faces/{relative}").open("rb"), relative.split("/")[-1])


def enroll(analyzer, relative: str, name: str):
    _, vectors = analyzer.embed(load_photo(relative))
    return analyzer.matcher.enroll(vectors[0], name)


def test_a_second_photo_makes_a_frame_recognised_that_one_photo_alone_missed(client, analyzer):
    lin = enroll(analyzer, "lin_manuel_miranda/lin1.png", "Lin")
    first, later = clip_frames(82, 82)[0], clip_frames(108, 108)[0]  # on stage, 0.9 s apart
    assert [f.identity_hash for f in analyzer.analyze(first)] == [None]  # his one photo: 0.929, under 0.93
    added = client.post(f"/faces/{lin.hash}/photos", data={"image": [(io.BytesIO(jpeg(later)), "stage.jpg")]})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["added"] == 1 and added.get_json()["vectors"] == 2
    assert [f.identity_hash for f in analyzer.analyze(first)] == [lin.hash]
    listed = {face["hash"]: face for face in client.get("/faces").get_json()["faces"]}
    assert listed[lin.hash]["vectors"] == 2


def test_photos_of_someone_else_or_poor_ones_are_refused_and_nothing_is_added(client, analyzer):
    obama = enroll(analyzer, "obama/obama1.jpg", "Barack")
    joe = enroll(analyzer, "biden/biden1.jpg", "Joe")
    url = f"/faces/{obama.hash}/photos"
    wrong = client.post(url, data={"image": [photo_file("obama/obama2.jpg"), photo_file("biden/biden2.jpg")]})
    body = wrong.get_json()
    assert wrong.status_code == 409 and "Joe" in body["error"] and body["matches"] == joe.hash
    assert "photo 2 (biden2.jpg)" in body["error"]
    stranger = client.post(url, data={"image": [photo_file("lin_manuel_miranda/lin1.png")]})  # enrolled by nobody
    assert stranger.status_code == 409 and "not look enough like" in stranger.get_json()["error"]
    blurred = next(b for sigma in (3, 4, 5, 6, 8) if analyzer.detector.detect(
        b := cv2.GaussianBlur(load_photo("obama/obama2.jpg"), (0, 0), sigma)))  # blurred, the face still found
    poor = client.post(url, data={"image": [(io.BytesIO(jpeg(blurred)), "blurred.jpg")]})
    assert poor.status_code == 422 and "the face is blurred" in poor.get_json()["error"], poor.get_json()
    empty = client.post(url, data={"image": [(io.BytesIO(jpeg(np.full((300, 300, 3), 128, np.uint8))), "wall.jpg")]})
    assert empty.status_code == 422 and "no face" in empty.get_json()["error"]
    assert len(analyzer.matcher.store.get(obama.hash).embeddings) == 1  # none of it was added
    good = client.post(url, data={"image": [photo_file("obama/obama2.jpg"), photo_file("obama/obama3.jpg")]})
    assert good.status_code == 200 and good.get_json()["added"] == 2 and good.get_json()["vectors"] == 3
    assert client.post(url).status_code == 400
    assert client.post(f"/faces/{'0' * 64}/photos", data={"image": [photo_file("obama/obama2.jpg")]}).status_code == 404
