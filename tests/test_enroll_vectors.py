"""POST /faces: people enrolled from embeddings made elsewhere, by the rules of photo enrollment."""
from dataclasses import replace
import numpy as np
import pytest

from tests.conftest import fixture_path


def embedding_of(client, photo: str) -> list[float]:
    """The largest face's vector, as another installation running the same model would send it."""
    upload = {"image": (fixture_path("faces/" + photo).open("rb"), photo.split("/")[-1])}
    faces = client.post("/extract_embeddings_from_image", data=upload).get_json()["embeddings"]
    return faces[0]["embedding"]


def test_vectors_enroll_people_who_are_then_recognised_in_photos(client):
    obama, biden = embedding_of(client, "obama/obama1.jpg"), embedding_of(client, "biden/biden1.jpg")
    obama_again = embedding_of(client, "obama/obama3.jpg")
    response = client.post("/faces", json={"model": "Dlib", "faces": [
        {"embedding": obama, "name": "Barack"}, {"embedding": biden, "name": "Joe"}, {"embedding": obama_again}]})
    assert response.status_code == 201
    body = response.get_json()
    assert [(c["index"], c["name"]) for c in body["created"]] == [(0, "Barack"), (1, "Joe")]
    assert [(e["index"], e["hash"]) for e in body["existing"]] == [(2, body["created"][0]["hash"])]
    listed = client.get("/faces").get_json()["faces"]
    assert [(f["name"], f["vectors"]) for f in listed] == [("Barack", 1), ("Joe", 1)]
    frame = {"frame": (fixture_path("faces/obama/obama4.jpg").open("rb"), "obama4.jpg")}
    assert client.post("/process-frame", data=frame).get_json()["name"] == "Barack"
    again = client.post("/faces", json={"faces": [{"embedding": biden, "name": "Joe twice"}]}).get_json()
    assert again["created"] == [] and again["existing"][0]["hash"] == body["created"][1]["hash"]


def test_a_vector_is_stored_as_a_unit_vector_whatever_its_scale(client, store):
    vector = np.asarray(embedding_of(client, "kit_harington/kit1.jpg"))
    created = client.post("/faces", json={"faces": [{"embedding": (vector * 7.5).tolist()}]}).get_json()["created"]
    stored = store.get(created[0]["hash"]).embeddings[0]
    assert np.isclose(np.linalg.norm(stored), 1.0, atol=1e-5) and np.allclose(stored, vector, atol=1e-5)


GOOD = {"embedding": [0.1] * 64 + [0.2] * 64, "name": "would be fine alone"}


@pytest.mark.parametrize("bad, status, message", [
    ({"name": "no vector"}, 400, "faces[1] must be an object with an 'embedding'"),
    ({"embedding": [0.5] * 127}, 422, "'faces[1].embedding' has 127 values; the Dlib model makes vectors of 128"),
    ({"embedding": [0.0] * 128}, 400, "zero vector"),
    ({"embedding": [0.5] * 127 + ["x"]}, 400, "numbers only"),
    ({"embedding": [0.5] * 128, "name": 5}, 400, "faces[1].name must be a string"),
    ({"embedding": [0.5] * 128, "name": "x" * 101}, 400, "faces[1].name is longer than 100"),
    ({"embedding": [0.5] * 128, "email": "a@b.c"}, 400, "fields this route does not take: ['email']"),
])
def test_one_bad_face_refuses_the_whole_batch(client, bad, status, message):
    response = client.post("/faces", json={"faces": [GOOD, bad]})
    assert response.status_code == status and message in response.get_json()["error"], response.get_json()
    assert client.get("/faces").get_json()["faces"] == []


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "needs 'faces'"),
    ({"faces": []}, 400, "needs 'faces'"),
    ({"faces": [GOOD], "model": "Facenet"}, 422, "this server runs Dlib"),
    ({"faces": [GOOD] * 1001}, 413, "at most 1000 per request"),
])
def test_bad_requests_say_what_is_wrong_and_store_nothing(client, body, status, message):
    response = client.post("/faces", json=body)
    assert response.status_code == status and message in response.get_json()["error"], response.get_json()
    assert client.get("/faces").get_json()["faces"] == []


def test_non_finite_values_are_refused(client):
    response = client.post("/faces", data='{"faces": [{"embedding": [NaN' + ", 0.1" * 127 + "]}]}",
                           content_type="application/json")
    assert response.status_code == 400 and "non-finite" in response.get_json()["error"]


def test_with_an_api_key_enrolling_vectors_needs_it(services):
    from webapp import create_app

    client = create_app(replace(services, api_key="sesame")).test_client()
    vector = {"faces": [{"embedding": [0.1] * 128}]}
    assert client.post("/faces", json=vector).status_code == 401
    assert client.post("/faces", json=vector, headers={"X-API-Key": "sesame"}).status_code == 201


def test_the_route_is_described_in_openapi(client):
    post = client.get("/openapi.json").get_json()["paths"]["/faces"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["properties"]["faces"]["maxItems"] == 1000
    assert set(post["responses"]) >= {"201", "400", "401", "413", "422"}
