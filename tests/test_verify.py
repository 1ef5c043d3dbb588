"""POST /verify (two photos, or a photo and an enrolled identity) and 'limit' (the closest people of each
face) on /process-frame, /predict_face and album search: fixture photos, the real model, over HTTP."""
import io

import cv2
import numpy as np
import pytest

import tests.test_album_api as album_api
from recognition.store.identity import Identity
from tests.conftest import fixture_path, load_photo
from tests.test_album_api import post_search
from tests.test_classifier import enroll_people

album_parts, album_server = album_api.album_parts, album_api.album_server  # an album of fixture photos, indexed

SAME = 1e-5  # /verify and /compare_embeddings round to 6 places; the vectors /compare_embeddings gets, to 7


def upload(relative: str):
    return io.BytesIO(fixture_path("faces/" + relative).read_bytes()), relative.rsplit("/", 1)[-1]


def verify(client, **fields):
    data = {key: upload(value) if key.startswith("image") else value for key, value in fields.items()}
    return client.post("/verify", data=data)


def largest_vector(client, relative: str) -> list[float]:
    faces = client.post("/extract_embeddings_from_image", data={"image": upload(relative)}).get_json()["embeddings"]
    return max(faces, key=lambda face: face["box"][2] * face["box"][3])["embedding"]


def compared(client, first: str, second: str) -> dict:
    return client.post("/compare_embeddings", json={"embedding1": largest_vector(client, first),
                                                    "embedding2": largest_vector(client, second)}).get_json()


@pytest.mark.parametrize("first, second, same", [
    ("obama/obama1.jpg", "obama/obama3.jpg", True), ("kit_harington/kit1.jpg", "kit_harington/kit2.jpg", True),
    ("obama/obama1.jpg", "biden/biden1.jpg", False), ("rose_leslie/rose1.jpg", "kit_harington/kit2.jpg", False)])
def test_two_photos_verify_as_compare_embeddings_compares_their_faces(client, first, second, same):
    response = verify(client, image1=first, image2=second)
    body = response.get_json()
    assert response.status_code == 200, body
    expected = compared(client, first, second)
    assert body["verified"] is expected["match"] is same
    assert body["similarity"] == pytest.approx(expected["similarity"], abs=SAME)
    assert body["threshold"] == expected["threshold"] and body["threshold_source"] == "model"
    assert body["model"] == "Dlib" and set(body["faces"]) == {"image1", "image2"}
    assert all(face["count"] == 1 and face["face"] == 0 and len(face["box"]) == 4 for face in body["faces"].values())


def test_the_face_fields_choose_which_face_of_a_group_photo(client):
    group = "group/obama_and_biden.jpg"
    boxes = client.post("/extract_embeddings_from_image", data={"image": upload(group)}).get_json()["embeddings"]
    by_size = sorted(boxes, key=lambda face: face["box"][2] * face["box"][3], reverse=True)
    obama_in_group = verify(client, image1=group, image2="obama/obama1.jpg").get_json()  # 0: the largest
    other = verify(client, image1=group, image2="obama/obama1.jpg", face1="1").get_json()
    assert obama_in_group["faces"]["image1"] == {"count": 2, "face": 0, "box": by_size[0]["box"]}
    assert other["faces"]["image1"] == {"count": 2, "face": 1, "box": by_size[1]["box"]}
    assert obama_in_group["verified"] and not other["verified"]
    too_far = verify(client, image1=group, image2="obama/obama1.jpg", face1="2")
    assert too_far.status_code == 400 and "2 face(s)" in too_far.get_json()["error"]


def test_a_photo_against_an_enrolled_identity_at_that_persons_bar_and_never_their_name(client, analyzer):
    barack = client.post("/enroll", data={"image": upload("obama/obama1.jpg"), "name": "Barack"}).get_json()
    response = verify(client, image="obama/obama3.jpg", hash=barack["hash"])
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["verified"] is True and body["threshold_source"] == "person"
    assert body["threshold"] == analyzer.matcher.threshold  # one vector: the bar is the model's threshold
    assert body["similarity"] == pytest.approx(compared(client, "obama/obama3.jpg", "obama/obama1.jpg")["similarity"],
                                               abs=SAME)
    assert set(body["faces"]) == {"image"} and "Barack" not in response.get_data(as_text=True)
    stranger = verify(client, image="biden/biden1.jpg", hash=barack["hash"]).get_json()
    assert stranger["verified"] is False and stranger["similarity"] < stranger["threshold"]


def test_a_person_of_several_looks_is_held_to_their_raised_bar(client, analyzer, store):
    looks = [analyzer.embed(load_photo(f"obama/{photo}"))[1][0] for photo in ("obama1.jpg", "obama2.jpg", "obama4.jpg")]
    store.add_many([Identity(hash="b" * 64, model="Dlib", embeddings=looks, name="Barack")])
    body = verify(client, image="obama/obama3.jpg", hash="b" * 64).get_json()
    assert body["threshold"] == pytest.approx(analyzer.matcher.required(3), abs=1e-6)
    assert body["threshold"] > analyzer.matcher.threshold and body["threshold_source"] == "person"
    assert body["similarity"] == pytest.approx(max(float(v @ analyzer.embed(load_photo("obama/obama3.jpg"))[1][0])
                                                   for v in looks), abs=SAME)
    assert body["verified"] is (body["similarity"] >= body["threshold"])


def test_wrong_field_combinations_are_400s_that_say_what_came(client):
    for fields in ({"image1": "obama/obama1.jpg"}, {"image1": "obama/obama1.jpg", "hash": "a" * 64},
                   {"image": "obama/obama1.jpg", "image2": "biden/biden1.jpg"}, {}):
        response = verify(client, **fields)
        error = response.get_json()["error"]
        assert response.status_code == 400 and "'image1' and 'image2'" in error and "'image' and" in error, error
        assert all(f"'{key}'" in error.split("this request has")[1] for key in fields) or not fields
    assert "none of them" in verify(client).get_json()["error"]


def test_unusable_inputs_get_clear_4xx(client):
    ok, blank = cv2.imencode(".png", np.full((200, 300, 3), 200, dtype=np.uint8))
    no_face = client.post("/verify", data={"image1": upload("obama/obama1.jpg"),
                                           "image2": (io.BytesIO(blank.tobytes()), "wall.png")})
    assert no_face.status_code == 422 and no_face.get_json()["error"] == "no face was found in 'image2'"
    unknown = verify(client, image="obama/obama1.jpg", hash="c" * 64)
    assert unknown.status_code == 404
    bad_number = verify(client, image1="obama/obama1.jpg", image2="obama/obama2.jpg", face2="-1")
    assert bad_number.status_code == 400 and "'face2'" in bad_number.get_json()["error"]
    not_image = client.post("/verify", data={"image1": (io.BytesIO(b"GIF89a no"), "x.gif"),
                                             "image2": upload("obama/obama1.jpg")})
    assert not_image.status_code == 415 and "'image1'" in not_image.get_json()["error"]


def enroll_separately(analyzer, store, photos: dict) -> dict:
    """Each photo as an identity of its own (as if enrolled before the duplicate check): several close people."""
    identities = {name: Identity(hash=f"{number + 1:064x}", model="Dlib", name=name,
                                 embeddings=[analyzer.embed(load_photo(photo))[1][0]])
                  for number, (name, photo) in enumerate(photos.items())}
    store.add_many(list(identities.values()))
    return {identity.hash: name for name, identity in identities.items()}


OBAMAS = {"Obama 1": "obama/obama1.jpg", "Obama 2": "obama/obama2.jpg", "Obama 4": "obama/obama4.jpg",
          "Joe": "biden/biden1.jpg"}


def test_limit_lists_each_faces_closest_people_best_first_and_the_bar_still_names(client, analyzer, store):
    names = enroll_separately(analyzer, store, OBAMAS)
    plain = client.post("/process-frame", data={"frame": upload("obama/obama3.jpg")}).get_json()
    assert "candidates" not in plain and "candidates" not in plain["faces"][0]  # as before, unless asked
    for limit in (1, 2, 3, 20):
        body = client.post("/process-frame", data={"frame": upload("obama/obama3.jpg"), "limit": str(limit)}).get_json()
        listed = body["faces"][0]["candidates"]
        similarities = [candidate["similarity"] for candidate in listed]
        assert similarities == sorted(similarities, reverse=True) and 1 <= len(listed) <= limit
        assert all(names[c["hash"]] == c["name"] and c["name"].startswith("Obama") for c in listed)  # never Joe
        assert body["candidates"] == listed and (body["hash"], body["name"]) == (plain["hash"], plain["name"])
        assert listed[0]["similarity"] == body["similarity"]  # the named one is the closest here
    assert len(listed) == 3 and body["hash"] in {c["hash"] for c in listed}
    stranger = client.post("/process-frame", data={"frame": upload("kit_harington/kit1.jpg"), "limit": "5"}).get_json()
    assert stranger["hash"] is None and stranger["candidates"] == []


@pytest.mark.parametrize("limit", ["0", "21", "x", "-1", "2.5", "9" * 30])
def test_a_bad_limit_is_a_400_naming_the_field(client, limit):
    for route, field in (("/process-frame", "frame"), ("/predict_face", "image")):
        response = client.post(route, data={field: upload("obama/obama3.jpg"), "limit": limit})
        assert response.status_code == 400 and "'limit'" in response.get_json()["error"], (route, limit)


def test_limit_on_predict_face_lists_candidates_beside_the_classifiers_name(client, analyzer, store):
    people = enroll_people(analyzer, store)
    assert client.post("/train_model").status_code == 200
    body = client.post("/predict_face", data={"image": upload("group/obama_and_biden.jpg"), "limit": "3"}).get_json()
    named = [face for face in body["faces"] if face["known"]]
    assert named and all(face["candidates"][0]["hash"] == face["hash"] for face in named)
    for face in body["faces"]:
        similarities = [c["similarity"] for c in face["candidates"]]
        assert similarities == sorted(similarities, reverse=True) and len(similarities) <= 3
    assert people["Barack"].hash in {face["hash"] for face in named}
    assert "candidates" not in client.post("/predict_face", data={"image": upload("obama/obama3.jpg")}).get_json()[
        "faces"][0]


def test_limit_on_album_search_keeps_the_best_photos_of_the_same_list(album_server):
    server, _ = album_server
    everything = post_search(server, "obama/obama3.jpg").json()["matches"]
    assert len(everything) >= 3
    for limit in (1, 2):
        answer = post_search(server, "obama/obama3.jpg", limit=str(limit))
        assert answer.status_code == 200 and answer.json()["matches"] == everything[:limit]
    refused = post_search(server, "obama/obama3.jpg", limit="501")
    assert refused.status_code == 400 and "'limit'" in refused.json()["error"]
