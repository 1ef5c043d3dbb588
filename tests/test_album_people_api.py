"""Correcting the albums' people over real HTTP, on the album of fixture photos indexed by the real
model: name, link, merge, take a face out; kept sealed, and kept when the album is indexed again."""
import shutil
from dataclasses import replace

import requests

import tests.test_album_api as album_api
from recognition.album.corrections import PeopleCorrections, corrections_path
from recognition.album.library import AlbumLibrary
from tests.conftest import load_photo, wait_until
from webapp import create_app

album_parts = album_api.album_parts
album_server = album_api.album_server  # the album of fixture photos, indexed by the real model


def listing(server) -> dict:
    answer = requests.get(server.url + "/album/people", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def person_with(body: dict, photo: str) -> dict:
    return next(p for p in body["people"] if photo in {f["photo"] for f in p["faces"]})


def change(server, method: str, path: str, body) -> requests.Response:
    return requests.request(method, server.url + path, json=body, timeout=30)


def test_name_take_out_and_merge_survive_indexing_again(album_server, album_parts, services, analyzer, tmp_path,
                                                         live_server):
    server, folder = album_server
    obama = person_with(listing(server), "obama/obama1.jpg")
    named = change(server, "PATCH", f"/album/people/{obama['id']}", {"name": "  Barack  "})
    assert named.status_code == 200, named.text
    assert named.json()["name"] == "Barack" and named.json()["id"] == obama["id"]

    out = next(f for f in obama["faces"] if f["photo"] == "obama/obama4.jpg")
    taken = change(server, "POST", f"/album/people/{obama['id']}/take-out",
                   {"album": out["album"], "photo": out["photo"], "face": out["face"]})
    assert taken.status_code == 200, taken.text
    assert "obama/obama4.jpg" not in {f["photo"] for f in taken.json()["faces"]}

    kit = person_with(listing(server), "kit_harington/kit1.jpg")
    assert change(server, "PATCH", f"/album/people/{kit['id']}", {"name": "Kit"}).status_code == 200
    # Merging here is a person saying "these are one": the test only needs two groups to join.
    merged = change(server, "POST", f"/album/people/{kit['id']}/merge", {"into": obama["id"]})
    assert merged.status_code == 200, merged.text
    photos = {f["photo"] for f in merged.json()["faces"]}
    assert {"obama/obama1.jpg", "kit_harington/kit1.jpg"} <= photos and merged.json()["name"] == "Barack"
    assert not any(p["id"] == kit["id"] for p in listing(server)["people"])

    # What was said is sealed: no name or photo path in the clear.
    sealed = corrections_path(services.store.data_dir).read_bytes()
    assert b"Barack" not in sealed and b"obama1" not in sealed

    # The album indexed from scratch (its index gone, as after a change of model) keeps all of it.
    album_parts.albums.stop()
    shutil.rmtree(services.store.data_dir / "albums" / next(
        p.name for p in (services.store.data_dir / "albums").iterdir() if p.is_dir()))
    library = AlbumLibrary.for_server([folder], services.store, analyzer).start()
    server = live_server(create_app(replace(services, albums=library)))  # a server started again
    assert wait_until(lambda: library.progress.state == "ready", timeout=120)
    again = person_with(listing(server), "obama/obama1.jpg")
    assert again["id"] == obama["id"] and again["name"] == "Barack"
    again_photos = {f["photo"] for f in again["faces"]}
    assert "kit_harington/kit1.jpg" in again_photos and "obama/obama4.jpg" not in again_photos
    library.stop()


def test_link_to_an_enrolled_identity_and_unlink_on_delete(album_server, analyzer, services):
    server, _ = album_server
    _, embeddings = analyzer.embed(load_photo("biden/biden2.jpg"))
    joe = analyzer.matcher.enroll(embeddings[0], "Joe")
    obama = person_with(listing(server), "obama/obama1.jpg")
    linked = change(server, "PATCH", f"/album/people/{obama['id']}", {"identity": joe.hash})
    assert linked.status_code == 200, linked.text
    assert linked.json()["identity"] == joe.hash and linked.json()["name"] == "Joe"  # the identity's name shows
    assert change(server, "PATCH", f"/album/people/{obama['id']}", {"identity": "0" * 64}).status_code == 404
    assert requests.delete(server.url + f"/faces/{joe.hash}", timeout=30).status_code == 200
    after = person_with(listing(server), "obama/obama1.jpg")
    assert after["identity"] is None and after["name"] is None
    on_disk = PeopleCorrections(corrections_path(services.store.data_dir), services.store.key, {}, lambda *_: None)
    assert on_disk.labels and all(label.identity is None for label in on_disk.labels.values())


def test_forgetting_a_person_gives_its_faces_back_to_the_grouping(album_server):
    server, _ = album_server
    obama = person_with(listing(server), "obama/obama1.jpg")
    out = next(f for f in obama["faces"] if f["photo"] == "obama/obama4.jpg")
    change(server, "PATCH", f"/album/people/{obama['id']}", {"name": "Barack"})
    change(server, "POST", f"/album/people/{obama['id']}/take-out", {k: out[k] for k in ("album", "photo", "face")})
    forgotten = requests.delete(server.url + f"/album/people/{obama['id']}", timeout=30)
    assert forgotten.status_code == 200 and forgotten.json() == {"forgotten": obama["id"]}
    again = person_with(listing(server), "obama/obama1.jpg")
    assert again["name"] is None and {f["photo"] for f in again["faces"]} == {f["photo"] for f in obama["faces"]}
    assert requests.delete(server.url + "/album/people/nobody", timeout=30).status_code == 404


def test_bad_corrections_are_refused_and_change_nothing(album_server):
    server, _ = album_server
    before = listing(server)
    obama = person_with(before, "obama/obama1.jpg")
    cases = [
        ("PATCH", "/album/people/nobody", {"name": "x"}, 404),
        ("PATCH", f"/album/people/{obama['id']}", {}, 400),
        ("PATCH", f"/album/people/{obama['id']}", {"name": "x" * 101}, 400),
        ("PATCH", f"/album/people/{obama['id']}", {"name": 7}, 400),
        ("PATCH", f"/album/people/{obama['id']}", {"identity": 7}, 400),
        ("PATCH", f"/album/people/{obama['id']}", [1, 2], 400),
        ("POST", f"/album/people/{obama['id']}/merge", {"into": obama["id"]}, 400),
        ("POST", f"/album/people/{obama['id']}/merge", {"into": "nobody"}, 404),
        ("POST", f"/album/people/{obama['id']}/merge", {}, 400),
        ("POST", f"/album/people/{obama['id']}/take-out", {"album": "Family", "photo": "rose_leslie/rose1.jpg",
                                                            "face": 0}, 404),
        ("POST", f"/album/people/{obama['id']}/take-out", {"album": "Family", "photo": "obama/obama1.jpg",
                                                            "face": "0"}, 400),
    ]
    for method, path, body, status in cases:
        answer = change(server, method, path, body)
        assert answer.status_code == status, (method, path, body, answer.text)
        assert "error" in answer.json()
    assert listing(server) == before
