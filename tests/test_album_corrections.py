"""The rules of people corrections on groupings made to be clear cases, and their file: sealed, kept
through a key rotation, set aside (never lost) when it cannot be opened."""
import numpy as np

import pytest

from recognition.album.corrections import PeopleCorrections, StaleListing, corrections_path
from recognition.album.people import FaceRef, Person
from recognition.store.identity import Identity
from recognition.store.vault import StoreKey, pending_key_path
from tests.conftest import open_store
import tests.test_store_tool as store_tool_tests
from tools.store import main as store_tool

installation = store_tool_tests.installation  # a data dir with two identities, and the tool's settings


def face(photo: str, number: int = 0) -> FaceRef:
    return FaceRef("Family", photo, number)


class Album:
    """Where each photo's faces are: boxes relative to the photo, as the index keeps them."""

    def __init__(self, tmp_path, photos: int = 8):
        self.folder = tmp_path / "Family"
        self.folder.mkdir(exist_ok=True)
        self.boxes = {f"p{i}.jpg": np.array([[0.1, 0.1, 0.2, 0.2], [0.6, 0.1, 0.2, 0.2]], np.float32)
                      for i in range(photos)}

    def corrections(self, path, key) -> PeopleCorrections:
        return PeopleCorrections(path, key, {"Family": self.folder}, lambda album, photo: self.boxes.get(photo))


def test_a_named_group_keeps_its_name_and_id_when_the_grouping_changes(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    group = Person("auto1", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg")))
    corrections.label(group, name="Ada")
    # A new photo sorts first and the detector moved the boxes a little: the group's own id would change.
    album.boxes = {photo: boxes + 0.01 for photo, boxes in album.boxes.items()}
    regrouped = Person("auto0", (face("p0.jpg"), face("p1.jpg"), face("p2.jpg"), face("p3.jpg")))
    other = Person("auto9", (face("p5.jpg"), face("p6.jpg")))
    shown = album.corrections(tmp_path / "people.sealed", key).apply([regrouped, other], [face("p7.jpg")])
    assert [(p.id, p.name, len(p.faces)) for p in shown] == [("auto1", "Ada", 4), ("auto9", None, 2)]


def test_take_out_merge_and_faces_marked_elsewhere(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    ada = Person("ada", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg")))
    bo = Person("bo", (face("p4.jpg"), face("p5.jpg")))
    corrections.take_out(ada, face("p3.jpg"))
    corrections.merge(bo, ada)
    corrections.label(Person("cy", (face("p6.jpg"), face("p1.jpg", 1))), name="Cy")
    # The grouping puts p3 back with Ada, and Cy's face of p1 with Ada as well; p6 is in no group now.
    regrouped = [Person("x", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg"), face("p1.jpg", 1))),
                 Person("y", (face("p4.jpg"), face("p5.jpg")))]
    shown = {p.id: p for p in corrections.apply(regrouped, [face("p6.jpg")])}
    assert set(shown) == {"ada", "cy"}
    assert shown["ada"].faces == (face("p1.jpg"), face("p2.jpg"), face("p4.jpg"), face("p5.jpg"))
    assert shown["cy"].faces == (face("p1.jpg", 1), face("p6.jpg")) and shown["cy"].name == "Cy"


def test_a_face_taken_out_after_its_box_moved_brings_no_strangers_in(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    corrections.label(Person("ada", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg"))), name="Ada")
    album.boxes = {photo: boxes + 0.01 for photo, boxes in album.boxes.items()}  # indexed again
    corrections.take_out(Person("ada", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg"))), face("p3.jpg"))
    # The grouping now puts p3 with two strangers: they stay a group of their own, not Ada.
    strangers = Person("auto3", (face("p3.jpg"), face("p4.jpg"), face("p5.jpg")))
    shown = {p.id: p for p in corrections.apply([Person("auto1", (face("p1.jpg"), face("p2.jpg"))), strangers], [])}
    assert shown["ada"].faces == (face("p1.jpg"), face("p2.jpg"))
    assert shown["auto3"].faces == strangers.faces and shown["auto3"].name is None


def test_a_merge_keeps_faces_taken_out_of_either_person_out(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    bo = Person("bo", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg")))
    corrections.take_out(bo, face("p1.jpg"))
    other = Person("other", (face("p1.jpg"), face("p4.jpg")))
    corrections.label(other, name="Other")
    corrections.merge(other, Person("bo", (face("p2.jpg"), face("p3.jpg"))))
    shown = {p.id: p for p in corrections.apply([Person("g", (face("p1.jpg"), face("p8.jpg"), face("p9.jpg"))),
                                                  Person("h", (face("p2.jpg"), face("p3.jpg"), face("p4.jpg")))], [])}
    assert shown["bo"].faces == (face("p2.jpg"), face("p3.jpg"), face("p4.jpg")) and shown["bo"].name == "Other"
    assert shown["g"].faces == (face("p1.jpg"), face("p8.jpg"), face("p9.jpg"))


def test_an_unmarked_group_never_takes_a_corrected_person_s_id(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    corrections.label(Person("x", (face("p1.jpg"), face("p2.jpg"))), name="Ada")
    # A later grouping gives "x" as the natural id of a group of other faces, twice over.
    groups = [Person("x", (face("p4.jpg"), face("p5.jpg"))), Person("x", (face("p6.jpg"), face("p7.jpg"))),
              Person("y", (face("p1.jpg"), face("p2.jpg")))]
    shown = corrections.apply(groups, [])
    assert len({p.id for p in shown}) == 3 and [p.name for p in shown if p.id == "x"] == ["Ada"]


def test_a_stale_listing_changes_nothing(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    with pytest.raises(StaleListing):
        corrections.label(Person("ada", (face("p1.jpg"), face("p1.jpg", 5))), name="Ada")
    assert corrections.labels == {} and corrections.assigned == {} and not (tmp_path / "people.sealed").exists()


def test_marks_of_photos_gone_are_forgotten_and_a_deleted_identity_unlinked(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    corrections.label(Person("ada", (face("p1.jpg"), face("p2.jpg"))), name="Ada", identity="a1" * 32)
    corrections.label(Person("bo", (face("p5.jpg"), face("p6.jpg"))), name="Bo")
    corrections.keep_photos([("Family", "p1.jpg")], ["Family"])
    assert {mark.photo for mark in corrections.assigned} == {"p1.jpg"} and set(corrections.labels) == {"ada"}
    corrections.forget_identity("a1" * 32)
    reopened = album.corrections(tmp_path / "people.sealed", key)
    assert reopened.labels["ada"].identity is None and reopened.labels["ada"].name == "Ada"
    reopened.forget(Person("ada", (face("p1.jpg"),)))
    assert album.corrections(tmp_path / "people.sealed", key).labels == {}


def test_a_file_sealed_with_another_key_is_set_aside_not_lost(tmp_path, caplog):
    album = Album(tmp_path)
    album.corrections(tmp_path / "people.sealed", StoreKey.generate()).label(
        Person("ada", (face("p1.jpg"), face("p2.jpg"))), name="Ada")
    sealed = (tmp_path / "people.sealed").read_bytes()
    assert b"Ada" not in sealed
    fresh = album.corrections(tmp_path / "people.sealed", StoreKey.generate())
    assert fresh.labels == {} and not (tmp_path / "people.sealed").exists()
    aside = list(tmp_path.glob("people.sealed.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == sealed and "cannot be read" in caplog.text


def test_rotating_the_store_key_re_seals_the_corrections(installation, tmp_path):
    folder, env = installation
    album = Album(tmp_path)
    with open_store(folder) as store:
        path, old_key = corrections_path(store.data_dir), store.key
        album.corrections(path, old_key).label(Person("ada", (face("p1.jpg"), face("p2.jpg"))), name="Ada")
    assert store_tool(["rotate-key"], env) == 0
    with open_store(folder) as store:
        assert store.key.key_id != old_key.key_id
        assert album.corrections(path, store.key).labels["ada"].name == "Ada"
    with open_store(folder) as store:  # Ada linked; then the tool deletes her identity
        album.corrections(path, store.key).label(Person("ada", (face("p1.jpg"), face("p2.jpg"))), identity="a1" * 32)
    assert store_tool(["delete", "a1a1a1a1"], env) == 0
    with open_store(folder) as store:
        assert album.corrections(path, store.key).labels["ada"].identity is None


def test_a_rotation_a_crash_interrupted_re_seals_them_when_it_is_finished(tmp_path):
    album = Album(tmp_path)
    with open_store(tmp_path) as store:
        store.add_many([Identity(hash="c3" * 32, model="Dlib", embeddings=[store_tool_tests.unit(4)])])
        path = corrections_path(store.data_dir)
        album.corrections(path, store.key).label(Person("ada", (face("p1.jpg"), face("p2.jpg"))), name="Ada")
        pending = StoreKey.generate().write(pending_key_path(store.key_path))  # the crash: only this was done
    with open_store(tmp_path) as store:  # opening finishes the rotation
        assert store.key.key_id == pending.key_id
        assert album.corrections(path, store.key).labels["ada"].name == "Ada"


def test_a_split_holds_when_the_grouping_puts_the_faces_together_again(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    ada = Person("ada", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg"), face("p4.jpg")))
    new_id = corrections.split(ada, [face("p3.jpg"), face("p4.jpg")], {"ada"})
    assert new_id != "ada"
    with pytest.raises(ValueError):
        corrections.split(ada, [face("p1.jpg"), face("p2.jpg"), face("p3.jpg"), face("p4.jpg")], {"ada"})
    with pytest.raises(ValueError):
        corrections.split(ada, [face("p6.jpg")], {"ada"})
    # Indexed again: the boxes moved a little and the grouping makes them one group, with a new face.
    album.boxes = {photo: boxes + 0.01 for photo, boxes in album.boxes.items()}
    regrouped = [Person("auto", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg"), face("p4.jpg"), face("p5.jpg")))]
    shown = {p.id: p for p in album.corrections(tmp_path / "people.sealed", key).apply(regrouped, [])}
    assert set(shown) == {"ada", new_id}
    # p5, new, goes with one of them (the group's majority); the split faces stay apart from Ada.
    assert {"p3.jpg", "p4.jpg"} <= {f.photo for f in shown[new_id].faces} <= {"p3.jpg", "p4.jpg", "p5.jpg"}
    assert {"p1.jpg", "p2.jpg"} <= {f.photo for f in shown["ada"].faces} <= {"p1.jpg", "p2.jpg", "p5.jpg"}


def test_a_hidden_person_stays_hidden_and_a_version_1_file_is_still_read(tmp_path):
    import pickle

    from recognition.album.corrections import PEOPLE_MAGIC
    from recognition.store.vault import seal

    album, key = Album(tmp_path), StoreKey.generate()
    folder = str(album.folder.resolve())
    version_1 = {"version": 1, "labels": [("ada", "Ada", None)],
                 "assigned": [(folder, photo, 0.1, 0.1, 0.2, 0.2, "ada") for photo in ("p1.jpg", "p2.jpg")],
                 "taken_out": []}
    (tmp_path / "people.sealed").write_bytes(seal(key, PEOPLE_MAGIC, pickle.dumps(version_1)))
    corrections = album.corrections(tmp_path / "people.sealed", key)
    assert corrections.labels["ada"].name == "Ada" and not corrections.labels["ada"].hidden
    group = Person("g", (face("p1.jpg"), face("p2.jpg")))
    corrections.label(corrections.apply([group], [])[0], hidden=True)
    shown = album.corrections(tmp_path / "people.sealed", key).apply([Person("h", group.faces)], [])
    assert [(p.id, p.name, p.hidden) for p in shown] == [("ada", "Ada", True)]
    corrections.label(shown[0], hidden=False)
    assert not album.corrections(tmp_path / "people.sealed", key).apply([group], [])[0].hidden


def test_a_confirmed_face_joins_even_after_a_take_out_and_a_rejected_one_never(tmp_path):
    album, key = Album(tmp_path), StoreKey.generate()
    corrections = album.corrections(tmp_path / "people.sealed", key)
    ada = Person("ada", (face("p1.jpg"), face("p2.jpg"), face("p3.jpg")))
    corrections.take_out(ada, face("p3.jpg"))
    corrections.assign(Person("ada", (face("p1.jpg"), face("p2.jpg"))), face("p3.jpg"))  # the newer word
    corrections.assign(Person("ada", (face("p1.jpg"), face("p2.jpg"))), face("p5.jpg"))
    corrections.reject(Person("ada", (face("p1.jpg"), face("p2.jpg"))), face("p6.jpg"))
    shown = {p.id: p for p in album.corrections(tmp_path / "people.sealed", key).apply(
        [Person("x", (face("p1.jpg"), face("p2.jpg"), face("p6.jpg")))], [face("p3.jpg"), face("p5.jpg")])}
    assert {f.photo for f in shown["ada"].faces} == {"p1.jpg", "p2.jpg", "p3.jpg", "p5.jpg"}
    assert (face("p6.jpg"), "ada") in corrections.not_these()


def test_a_mark_on_a_video_appearance_finds_it_by_its_time(tmp_path):
    """One person filmed twice at the same place: two appearances of one video with nearly the same box.
    After a re-index that moved the boxes a little (another detector), the appearance named keeps its
    name and the one taken out stays out: each mark finds the appearance in view at its time."""
    album, key = Album(tmp_path), StoreKey.generate()
    # x, y, w, h, came into view, left, seen best (seconds), as the index gives a video's appearances
    album.boxes["clip.mp4"] = np.array([[0.40, 0.30, 0.10, 0.15, 1.0, 6.0, 3.0],
                                        [0.41, 0.30, 0.10, 0.15, 15.0, 18.0, 16.5]], np.float32)
    corrections = album.corrections(tmp_path / "people.sealed", key)
    first, second = face("clip.mp4", 0), face("clip.mp4", 1)
    ada = Person("ada", (face("p1.jpg"), face("p2.jpg"), first, second))
    corrections.take_out(ada, second)
    corrections.label(Person("bo", (face("p3.jpg"), face("p4.jpg"))), name="Bo")
    corrections.assign(Person("bo", (face("p3.jpg"), face("p4.jpg"))), second)
    corrections.label(ada, name="Ada")
    # Re-indexed: the first appearance's best view is now where the second's was, and the other way round.
    album.boxes["clip.mp4"] = np.array([[0.41, 0.30, 0.10, 0.15, 1.5, 6.0, 4.0],
                                        [0.40, 0.30, 0.10, 0.15, 15.0, 18.5, 17.0]], np.float32)
    regrouped = [Person("x", (face("p1.jpg"), face("p2.jpg"), first, second)),
                 Person("y", (face("p3.jpg"), face("p4.jpg")))]
    shown = {p.name: set(p.faces) for p in album.corrections(tmp_path / "people.sealed", key).apply(regrouped, [])}
    assert first in shown["Ada"] and second not in shown["Ada"] and second in shown["Bo"]
