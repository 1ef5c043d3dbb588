"""Register by photo, log in with another photo; strangers stay out."""
import io

import numpy as np
import pytest

from tests.conftest import fixture_path, stored_bytes

REGISTERED = {"obama": ("obama/obama1.jpg", "barack@example.org"), "kit_harington": ("kit_harington/kit1.jpg", None),
              "rose_leslie": ("rose_leslie/rose1.jpg", "rose@example.org")}
OTHER_PHOTOS = {"obama": ["obama/obama2.jpg", "obama/obama3.jpg", "obama/obama4.jpg", "obama/obama_240p.jpg"],
                "kit_harington": ["kit_harington/kit2.jpg", "kit_harington/kit3.jpg"], "rose_leslie": ["rose_leslie/rose2.jpg"]}
NEVER_REGISTERED = ["biden/biden1.jpg", "biden/biden2.jpg", "alex_lacamoire/alex1.jpg", "alex_lacamoire/alex2.png",
                    "alex_lacamoire/alex3.jpg", "lin_manuel_miranda/lin1.png"]


def photo(relative, **fields):
    data = {"image": (io.BytesIO(fixture_path("faces/" + relative).read_bytes()), relative.rsplit("/", 1)[-1])}
    data.update({k: v for k, v in fields.items() if v is not None})
    return data


@pytest.fixture
def registered(client):
    ids = {}
    for person, (relative, email) in REGISTERED.items():
        response = client.post("/register", data=photo(relative, email=email, name=person))
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert body["name"] == person and len(body["id"]) == 64
        ids[person] = body["id"]
    return ids


def embedding_of(client, relative):
    """The largest face's embedding in a photo, as the server computes it from the same upload."""
    return np.asarray(client.post("/extract_embeddings_from_image", data=photo(relative)).get_json()["embeddings"][0]
                      ["embedding"])


def test_registered_people_log_in_with_another_photo(client, registered):
    for person, photos in OTHER_PHOTOS.items():
        enrolled = embedding_of(client, REGISTERED[person][0])
        for relative in photos:
            response = client.post("/login", data=photo(relative))
            assert response.status_code == 200, (relative, response.get_json())
            body = response.get_json()
            assert body["id"] == registered[person] and body["name"] == person
            # The similarity said is the one between this photo's face and the face registered.
            assert body["similarity"] == pytest.approx(float(enrolled @ embedding_of(client, relative)), abs=1e-4)


def test_people_who_never_registered_are_refused(client, registered):
    for relative in NEVER_REGISTERED:
        response = client.post("/login", data=photo(relative))
        assert response.status_code == 401, relative
        assert response.get_json() == {"error": "the face was not recognised as a registered person"}


def test_with_an_email_only_the_identity_bound_to_it_gets_in(client, registered):
    ok = client.post("/login", data=photo("obama/obama2.jpg", email=" Barack@Example.org"))
    assert ok.status_code == 200 and ok.get_json()["id"] == registered["obama"]
    # Rose's face with Obama's email, and Obama's face with an email nobody registered: the same 401.
    for relative, email in [("rose_leslie/rose2.jpg", "barack@example.org"), ("obama/obama2.jpg", "nobody@example.org")]:
        response = client.post("/login", data=photo(relative, email=email))
        assert response.status_code == 401
        assert response.get_json()["error"] == "the face was not recognised as a registered person"


def test_registering_a_face_twice_is_409_with_the_id(client, registered):
    again = client.post("/register", data=photo("obama/obama3.jpg", email="other@example.org"))
    assert again.status_code == 409 and again.get_json()["id"] == registered["obama"]
    assert len(client.get("/faces").get_json()["faces"]) == 3


def test_a_taken_email_and_a_new_one_get_the_same_answer(client, registered, store):
    """/register is no oracle of registered emails: the answer for Rose's email is the answer for a new
    one; the taken email stays bound to Rose alone, and the newcomer is registered without it."""
    taken = client.post("/register", data=photo("biden/biden1.jpg", email="ROSE@example.org", name="Joe"))
    new = client.post("/register", data=photo("alex_lacamoire/alex1.jpg", email="alex@example.org", name="Alex"))
    assert taken.status_code == new.status_code == 201
    assert taken.get_json().keys() == new.get_json().keys() == {"id", "name"}
    joe, alex = store.get(taken.get_json()["id"]), store.get(new.get_json()["id"])
    assert joe.email_hash is None and alex.email_hash == store.email_hash("alex@example.org")
    assert store.find_by_email_hash(store.email_hash("rose@example.org")).hash == registered["rose_leslie"]
    # Rose still signs in with her email; Joe's face with it is refused like any wrong face.
    assert client.post("/login", data=photo("rose_leslie/rose2.jpg", email="rose@example.org")).status_code == 200
    assert client.post("/login", data=photo("biden/biden2.jpg", email="rose@example.org")).status_code == 401
    assert client.post("/login", data=photo("biden/biden2.jpg")).get_json()["id"] == taken.get_json()["id"]


def test_the_email_is_never_stored_or_shown(client, registered, store):
    data = stored_bytes(store)
    assert b"barack@example.org" not in data and b"rose@example" not in data
    identity = store.get(registered["obama"])
    assert identity.email_hash == store.email_hash("barack@example.org") != "barack@example.org"
    listed = client.get("/faces").get_json()["faces"]
    assert "barack" not in str(listed) and [f["registered"] for f in listed] == [True, False, True]


@pytest.mark.parametrize("fields, status, message", [
    ({"email": "not-an-email"}, 400, "the email address is not valid"),
    ({"name": "x" * 101}, 400, "the name is longer than 100 characters"),
])
def test_bad_fields_are_400(client, fields, status, message):
    response = client.post("/register", data=photo("biden/biden1.jpg", **fields))
    assert response.status_code == status and response.get_json()["error"] == message
    assert client.get("/faces").get_json()["faces"] == []


def test_login_without_a_photo_is_400(client):
    response = client.post("/login", data={"email": "a@b.org"})
    assert response.status_code == 400 and "'image'" in response.get_json()["error"]


def test_logs_never_hold_emails_or_vectors(client, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        registered = client.post("/register", data=photo("biden/biden1.jpg", email="joe.b@example.org", name="Joe"))
        assert registered.status_code == 201
        assert client.post("/login", data=photo("biden/biden2.jpg", email="joe.b@example.org")).status_code == 200
        assert client.post("/login", data=photo("kit_harington/kit1.jpg", email="joe.b@example.org")).status_code == 401
    assert caplog.records  # the server did log: enrollment and login, by hash prefix
    assert "joe.b" not in caplog.text and "example.org" not in caplog.text
    assert registered.get_json()["id"][:12] in caplog.text and registered.get_json()["id"] not in caplog.text
