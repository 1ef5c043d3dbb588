"""Correcting the albums' people over real HTTP, on the album of fixture photos indexed by the real
model: name, link, merge, take a face out, split, hide, confirm a suggestion; kept sealed, and kept when
the album is indexed again."""
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest
import requests

import tests.test_album_api as album_api
from recognition.album.corrections import PeopleCorrections, corrections_path
from recognition.album.library import AlbumLibrary
from tests.conftest import fixture_path, load_photo, wait_until
from webapp import create_app

album_parts = album_api.album_parts
album_server = album_api.album_server  # the album of fixture photos, indexed by the real model


@pytest.fixture
def collage_parts(tmp_path, services, analyzer):
    """An album where the grouping leaves a face near a person out: a collage of two photos of Biden
    (two faces of him in one photo, so one cannot join his group), his photo with Obama, Obama's,
    Kit's and Rose's photos. Groups: Obama (4), Kit (3), Biden (2); in none: Rose, the collage's other."""
    folder = tmp_path / "Family"
    for person, photos in album_api.PEOPLE.items():
        for photo in photos if person != "biden" else []:
            (folder / person).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fixture_path(f"faces/{person}/{photo}"), folder / person / photo)
    (folder / "group").mkdir()
    shutil.copyfile(fixture_path("faces/group/obama_and_biden.jpg"), folder / "group" / "obama_and_biden.jpg")
    left, right = (cv2.imread(str(fixture_path(f"faces/biden/{name}"))) for name in ("biden1.jpg", "biden2.jpg"))
    height = min(left.shape[0], right.shape[0])
    left, right = (cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height))
                   for image in (left, right))
    cv2.imwrite(str(folder / "group" / "bidens.jpg"), np.hstack([left, right]))
    yield from album_api.indexed_album(folder, services, analyzer)


@pytest.fixture
def collage_server(collage_parts, live_server, tmp_path):
    return live_server(create_app(collage_parts)), tmp_path / "Family"


def index_again(old_library, folder, services, analyzer, live_server):
    """The album indexed from scratch (its index gone, as after a change of model), by a server started
    again: (the server, its library)."""
    old_library.stop()
    shutil.rmtree(services.store.data_dir / "albums" / next(
        p.name for p in (services.store.data_dir / "albums").iterdir() if p.is_dir()))
    library = AlbumLibrary.for_server([folder], services.store, analyzer).start()
    server = live_server(create_app(replace(services, albums=library)))
    assert wait_until(lambda: library.progress.state == "ready", timeout=120)
    return server, library


def ref(face: dict) -> dict:
    return {key: face[key] for key in ("album", "photo", "face")}


def photos_of(person: dict) -> set:
    return {f["photo"] for f in person["faces"]}


def listing(server, **params) -> dict:
    answer = requests.get(server.url + "/album/people", params=params, timeout=30)
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


def test_split_hide_and_a_confirmed_suggestion_survive_indexing_again(collage_server, collage_parts, services,
                                                                        analyzer, live_server):
    server, folder = collage_server
    obama = person_with(listing(server), "obama/obama1.jpg")
    going = [ref(f) for f in obama["faces"] if f["photo"] in ("obama/obama2.jpg", "obama/obama4.jpg")]
    split = change(server, "POST", f"/album/people/{obama['id']}/split", {"faces": going})
    assert split.status_code == 201, split.text
    new = split.json()
    assert photos_of(new) == {"obama/obama2.jpg", "obama/obama4.jpg"} and new["id"] != obama["id"]
    assert photos_of(person_with(listing(server), "obama/obama1.jpg")) == {"obama/obama1.jpg",
                                                                           "group/obama_and_biden.jpg"}

    # Kit is found by a photo and by an enrolled identity, until hidden.
    _, embeddings = analyzer.embed(load_photo("kit_harington/kit2.jpg"))
    kit_identity = analyzer.matcher.enroll(embeddings[0], "Kit")

    def found_kit() -> tuple[bool, bool]:
        by_photo = album_api.post_search(server, "kit_harington/kit3.jpg").json()["matches"]
        by_identity = requests.get(server.url + "/album/search", params={"hash": kit_identity.hash},
                                   timeout=60).json()["matches"]
        return tuple(any(m["photo"].startswith("kit_harington/") for m in found) for found in (by_photo, by_identity))

    assert found_kit() == (True, True)
    kit = person_with(listing(server), "kit_harington/kit1.jpg")
    hidden = change(server, "PATCH", f"/album/people/{kit['id']}", {"hidden": True})
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert not any(p["id"] == kit["id"] for p in listing(server)["people"])
    assert [p["id"] for p in listing(server, hidden=1)["people"]] == [kit["id"]]
    assert found_kit() == (False, False)
    assert album_api.post_search(server, "obama/obama3.jpg").json()["matches"]  # the others still are

    # The collage's second Biden is in no person: suggested as Biden, confirmed with one call.
    biden = person_with(listing(server), "group/bidens.jpg")
    suggested = requests.get(server.url + "/album/people/suggestions", params={"limit": 5}, timeout=30)
    assert suggested.status_code == 200, suggested.text
    collage = next(s for s in suggested.json()["suggestions"] if s["face"]["photo"] == "group/bidens.jpg")
    best = collage["candidates"][0]
    assert best["id"] == biden["id"] and best["similarity"] > 0.9 and len(collage["candidates"]) <= 5
    assert not any(c["id"] == kit["id"] for s in suggested.json()["suggestions"] for c in s["candidates"])
    confirmed = change(server, "POST", f"/album/people/{biden['id']}/faces", ref(collage["face"]))
    assert confirmed.status_code == 200, confirmed.text
    assert len([f for f in confirmed.json()["faces"] if f["photo"] == "group/bidens.jpg"]) == 2
    after = requests.get(server.url + "/album/people/suggestions", timeout=30).json()["suggestions"]
    assert not any(s["face"]["photo"] == "group/bidens.jpg" for s in after)

    server, library = index_again(collage_parts.albums, folder, services, analyzer, live_server)
    people = listing(server)["people"]
    assert photos_of(next(p for p in people if p["id"] == new["id"])) == {"obama/obama2.jpg", "obama/obama4.jpg"}
    assert photos_of(next(p for p in people if p["id"] == obama["id"])) == {"obama/obama1.jpg",
                                                                             "group/obama_and_biden.jpg"}
    assert not any(p["id"] == kit["id"] for p in people) and found_kit() == (False, False)
    assert [p["id"] for p in listing(server, hidden=1)["people"]] == [kit["id"]]
    again = next(p for p in people if p["id"] == biden["id"])
    assert len([f for f in again["faces"] if f["photo"] == "group/bidens.jpg"]) == 2
    # Shown again: listed and found again.
    assert change(server, "PATCH", f"/album/people/{kit['id']}", {"hidden": False}).json()["hidden"] is False
    assert any(p["id"] == kit["id"] for p in listing(server)["people"]) and found_kit() == (True, True)
    library.stop()


def test_a_rejected_suggestion_is_not_made_again(collage_server):
    server, _ = collage_server
    biden = person_with(listing(server), "group/bidens.jpg")
    collage = next(s for s in requests.get(server.url + "/album/people/suggestions", timeout=30).json()["suggestions"]
                   if s["face"]["photo"] == "group/bidens.jpg")
    rejected = change(server, "POST", f"/album/people/{biden['id']}/not", ref(collage["face"]))
    assert rejected.status_code == 200, rejected.text
    after = requests.get(server.url + "/album/people/suggestions", timeout=30).json()["suggestions"]
    assert not any(c["id"] == biden["id"] for s in after if s["face"] == collage["face"] for c in s["candidates"])
    in_biden = ref(biden["faces"][0])
    assert change(server, "POST", f"/album/people/{biden['id']}/not", in_biden).status_code == 400


def test_bad_splits_hides_and_confirmations_are_refused_and_change_nothing(album_server):
    server, _ = album_server
    before = listing(server)
    obama = person_with(before, "obama/obama1.jpg")
    one = ref(obama["faces"][0])
    rose = {"album": "Family", "photo": "rose_leslie/rose1.jpg", "face": 0}
    split = f"/album/people/{obama['id']}/split"
    cases = [
        ("POST", split, {"faces": []}, 400),
        ("POST", split, {}, 400),
        ("POST", split, {"faces": one}, 400),
        ("POST", split, {"faces": [rose]}, 400),  # not in the person
        ("POST", split, {"faces": [ref(f) for f in obama["faces"]]}, 400),  # all of it
        ("POST", split, {"faces": [{**one, "face": -1}]}, 400),
        ("POST", split, {"faces": [{**one, "face": "0"}]}, 400),
        ("POST", split, {"faces": ["obama1"]}, 400),
        ("POST", split, {"faces": [one] * 1001}, 400),
        ("POST", "/album/people/nobody/split", {"faces": [one]}, 404),
        ("PATCH", f"/album/people/{obama['id']}", {"hidden": "yes"}, 400),
        ("PATCH", "/album/people/nobody", {"hidden": True}, 404),
        ("POST", f"/album/people/{obama['id']}/faces", {"album": "Family", "photo": "rose_leslie/rose1.jpg"}, 400),
        ("POST", f"/album/people/{obama['id']}/faces", {**rose, "face": 7}, 409),  # no such face now
        ("POST", f"/album/people/{obama['id']}/faces", {**rose, "album": "Elsewhere"}, 409),
        ("POST", "/album/people/nobody/faces", rose, 404),
        ("POST", f"/album/people/{obama['id']}/not", [rose], 400),
        ("GET", "/album/people?hidden=2", None, 400),
        ("GET", "/album/people/suggestions?limit=0", None, 400),
        ("GET", "/album/people/suggestions?limit=many", None, 400),
    ]
    for method, path, body, status in cases:
        answer = change(server, method, path, body)
        assert answer.status_code == status, (method, path, body, answer.text)
        assert "error" in answer.json()
    # Another site's page cannot make a browser split anyone (the Origin rule of every change).
    foreign = requests.post(server.url + split, json={"faces": [one]}, headers={"Origin": "https://evil.example"},
                            timeout=30)
    assert foreign.status_code == 403
    assert listing(server) == before
