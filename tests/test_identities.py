"""Renaming, deleting for good, "not this person", and the API key that guards every change."""
from dataclasses import replace
import io

import pytest

from recognition.matching.matcher import Matcher
from tests.conftest import fixture_path, load_photo, open_store, wait_until, write_clip


def photo(relative, field="image"):
    return {field: (io.BytesIO(fixture_path("faces/" + relative).read_bytes()), relative.rsplit("/", 1)[-1])}


def enroll(client, relative, name=None, **headers):
    response = client.post("/enroll", data={**photo(relative), **({"name": name} if name else {})}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["hash"]


def test_rename(client):
    identity = enroll(client, "rose_leslie/rose1.jpg", "Rose")
    response = client.patch(f"/faces/{identity}", json={"name": "Rose Leslie"})
    assert response.status_code == 200 and response.get_json()["name"] == "Rose Leslie"
    assert client.post("/process-frame", data=photo("rose_leslie/rose2.jpg", "frame")).get_json()["name"] == "Rose Leslie"
    assert client.patch(f"/faces/{'0' * 64}", json={"name": "x"}).status_code == 404
    assert client.patch(f"/faces/{identity}", json={"name": 5}).status_code == 400
    assert client.patch(f"/faces/{identity}", data="name").status_code == 400


def test_delete_removes_the_identity_and_its_vectors_from_disk(client, store, tmp_path):
    kept = enroll(client, "biden/biden1.jpg")
    deleted = enroll(client, "obama/obama1.jpg")
    response = client.delete(f"/faces/{deleted}")
    assert response.status_code == 200 and response.get_json()["deleted"] == deleted
    assert client.delete(f"/faces/{deleted}").status_code == 404
    assert client.post("/process-frame", data=photo("obama/obama2.jpg", "frame")).get_json()["hash"] is None
    # What is on disk when the call returns, read back by a separate reader of the file:
    with open_store(tmp_path, read_only=True) as on_disk:
        assert [i.hash for i in on_disk.identities()] == [kept]


def test_not_this_person_stops_a_lookalike_matching(client, services):
    # A loose threshold makes Biden pass for Obama, the kind of mistake "not this person" is for.
    services.analyzer.matcher = Matcher(services.store, "Dlib", threshold=0.80)
    obama = enroll(client, "obama/obama1.jpg")
    lookalike = client.post("/process-frame", data=photo("biden/biden1.jpg", "frame")).get_json()
    assert lookalike["hash"] == obama  # the mistake
    response = client.post(f"/faces/{obama}/not", data=photo("biden/biden1.jpg"))
    assert response.status_code == 200 and response.get_json()["rejections"] == 1
    assert client.post("/process-frame", data=photo("biden/biden2.jpg", "frame")).get_json()["hash"] is None
    assert client.post("/process-frame", data=photo("obama/obama2.jpg", "frame")).get_json()["hash"] == obama
    assert client.post(f"/faces/{obama}/not").status_code == 409  # no camera here and no photo sent
    assert client.post(f"/faces/{'0' * 64}/not", data=photo("biden/biden1.jpg")).status_code == 404


@pytest.fixture
def keyed_client(services):
    from webapp import create_app

    return create_app(replace(services, api_key="s3cret-key")).test_client()


def test_with_an_api_key_every_change_needs_it(keyed_client):
    client = keyed_client
    for method, url, kwargs in [  # kwargs: a fresh upload per request
        ("post", "/enroll", lambda: {"data": photo("kit_harington/kit1.jpg")}),
        ("post", "/register", lambda: {"data": photo("kit_harington/kit1.jpg")}),
        ("patch", f"/faces/{'a' * 64}", lambda: {"json": {"name": "x"}}),
        ("delete", f"/faces/{'a' * 64}", lambda: {}),
        ("post", f"/faces/{'a' * 64}/not", lambda: {"data": photo("kit_harington/kit1.jpg")}),
        ("post", f"/faces/{'a' * 64}/photos", lambda: {"data": photo("kit_harington/kit1.jpg")}),
        ("patch", "/album/people/abc", lambda: {"json": {"name": "x"}}),
        ("post", "/album/people/abc/merge", lambda: {"json": {"into": "def"}}),
        ("post", "/album/people/abc/take-out", lambda: {"json": {"album": "a", "photo": "b", "face": 0}}),
        ("delete", "/album/people/abc", lambda: {}),
        ("post", "/album/people/abc/split", lambda: {"json": {"faces": [{"album": "a", "photo": "b", "face": 0}]}}),
        ("post", "/album/people/abc/faces", lambda: {"json": {"album": "a", "photo": "b", "face": 0}}),
        ("post", "/album/people/abc/not", lambda: {"json": {"album": "a", "photo": "b", "face": 0}}),
    ]:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = getattr(client, method)(url, headers=headers, **kwargs())
            assert response.status_code == 401, (method, url, headers)
            assert "X-API-Key" in response.get_json()["error"] and response.get_json()["needs_key"] is True
    key = {"X-API-Key": "s3cret-key"}
    assert client.get("/faces", headers=key).get_json()["faces"] == []
    identity = enroll(client, "kit_harington/kit1.jpg", **key)
    # Reading needs the key too (tests/test_keys.py goes through every route).
    assert client.post("/process-frame", data=photo("kit_harington/kit2.jpg", "frame")).status_code == 401
    assert client.post("/process-frame", data=photo("kit_harington/kit2.jpg", "frame"), headers=key).status_code == 200
    assert client.delete(f"/faces/{identity}", headers=key).status_code == 200
    assert client.get("/hash", headers=key).get_json()["status"]["api_key_required"] is True


def test_not_this_person_from_the_face_on_camera(camera_services, analyzer, tmp_path):
    from webapp import create_app

    analyzer.matcher = Matcher(analyzer.matcher.store, "Dlib", threshold=0.80)  # loose: Biden passes for Obama
    obama = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack").hash
    clip = write_clip(tmp_path / "cam.avi", ["biden/biden1.jpg"], seconds_each=2.0, fps=20)
    client = create_app(camera_services(str(clip))).test_client()
    assert wait_until(lambda: client.get("/hash").get_json()["hash"] == obama, timeout=20)  # the mistake, live
    response = client.post(f"/faces/{obama}/not")
    assert response.status_code == 200 and response.get_json()["rejections"] == 1
    body = client.get("/hash").get_json()  # re-matched at once, not on the next frame
    assert body["hash"] is None and body["faces"] and not body["faces"][0]["known"]
    assert client.post(f"/faces/{obama}/not").status_code == 409  # nobody on camera is matched to him now


def test_the_list_pages_through_a_large_store(client, store):
    from recognition.store.identity import Identity
    from tests.test_store_contract import unit

    store.add_many([Identity(hash=f"{n:064x}", model="Dlib", embeddings=[unit(n)], name=f"p{n}", created=float(n))
                    for n in range(1, 26)])
    page = client.get("/faces?offset=20&limit=3").get_json()
    assert [f["name"] for f in page["faces"]] == ["p21", "p22", "p23"] and page["total"] == 25
    assert len(client.get("/faces").get_json()["faces"]) == 25
    assert client.get("/faces?limit=-1").status_code == 400
