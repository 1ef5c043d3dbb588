"""The pickle store's own promises: private files, encrypted, signed, strictly unpickled, writes that
touch one segment, delete = gone from every file, one writer, key rotation, migration of old files."""
import os
import pickle
import stat

import numpy as np
import pytest

from recognition.store import legacy, records, segments
from recognition.store.atomic import DataDirInUse
from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected, StoreWriteFailed
from recognition.store.migration import STAGING_FOLDER
from recognition.store.pickle_store import SECRET_FILE, STORE_FOLDER, PickleStore
from recognition.store.vault import StoreKey, StoreKeyError, pending_key_path, seal, unseal
from tests.conftest import open_store, stored_bytes
from tests.test_store_contract import unit


def holds_vector(data: bytes, vector: np.ndarray) -> bool:
    """Whether the bytes contain the vector in the clear, as float32 or float64, in either byte order."""
    head = np.asarray(vector[:8])
    return any(head.astype(dtype).tobytes() in data for dtype in ("<f4", ">f4", "<f8", ">f8"))


def person(n: int, **fields) -> Identity:
    return Identity(hash=f"{n:064x}", model="Dlib", embeddings=[unit(n)], created=float(n), **fields)


def opened_plaintexts(store: PickleStore) -> list[bytes]:
    """Every record of every segment, decrypted with the store's key: what someone with the key could read."""
    key = StoreKey.read(store.key_path)
    plain = []
    for number in segments.segment_numbers(store.folder):
        for body in segments.read(store.folder, number, store.secret).bodies:
            plain.append(unseal([key], records.RECORD_MAGIC, body, "test"))
    return plain


def segment_file(tmp_path, number: int = 1):
    return segments.segment_path(tmp_path / "db" / STORE_FOLDER, number)


def test_files_are_private_and_the_key_lives_outside_the_data_dir(tmp_path, store):
    store.add_many([person(5)])
    data_dir, key = tmp_path / "db", tmp_path / "keys" / "store.key"
    assert sorted(os.listdir(data_dir)) == [".lock", STORE_FOLDER, SECRET_FILE]
    for path in (data_dir / SECRET_FILE, segment_file(tmp_path), key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for folder in (key.parent, data_dir / STORE_FOLDER):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    with pytest.raises(StoreKeyError, match="inside the data dir"):
        PickleStore(tmp_path / "other", tmp_path / "other" / "store.key")


def test_names_vectors_and_email_hashes_are_encrypted_on_disk(store):
    vector = unit(7)
    email_hash = store.email_hash("ada@example.org")
    store.add_many([Identity(hash="e" * 64, model="Dlib", embeddings=[vector], name="Ada Lovelace",
                             email_hash=email_hash)])
    data = stored_bytes(store)
    assert not holds_vector(data, vector)
    assert b"Ada Lovelace" not in data and email_hash.encode() not in data and b"ada@example" not in data
    assert store.find_by_email_hash(store.email_hash(" ADA@example.org ")).name == "Ada Lovelace"


def test_a_second_writer_on_the_same_data_dir_is_refused(tmp_path, store):
    with pytest.raises(DataDirInUse, match=f"pid {os.getpid()}"):
        open_store(tmp_path)
    store.add_many([person(1)])
    with open_store(tmp_path, read_only=True) as reader:  # listing while the server runs is fine
        assert len(reader) == 1
        with pytest.raises(PermissionError):
            reader.add_many([person(2)])
    store.close()
    open_store(tmp_path).close()


def test_a_write_touches_one_segment_whatever_the_size_of_the_store(tmp_path):
    """What keeps a write's cost flat: an enrollment appends to the newest segment, a change rewrites only
    the segment of the person changed; every other file stays as it was, byte for byte."""
    with open_store(tmp_path, segment_identities=10) as store:
        store.add_many([person(n) for n in range(1, 48)])  # segments 1-4 full, 5 the newest
        folder = store.folder

        def snapshot():
            return {path.name: (path.stat().st_ino, path.read_bytes()) for path in folder.iterdir()}

        before = snapshot()
        store.add_many([person(100)])
        after = snapshot()
        changed = [name for name in before if before[name] != after[name]]
        assert changed == ["00000005.seg"] and after["00000005.seg"][1].startswith(before["00000005.seg"][1])
        store.rename(f"{13:064x}", "renamed")  # lives in segment 2
        store.remove(f"{25:064x}")  # segment 3
        final = snapshot()
        assert sorted(n for n in after if after[n] != final[n]) == ["00000002.seg", "00000003.seg"]
    with open_store(tmp_path) as reopened:
        assert len(reopened) == 47 and reopened.get(f"{13:064x}").name == "renamed"


def test_a_full_segment_is_closed_as_one_record(tmp_path):
    with open_store(tmp_path, segment_identities=4) as store:
        for n in range(1, 6):
            store.add_many([person(n)])  # one record each
        assert len(segments.read(store.folder, 1, store.secret).bodies) == 1  # closed: compacted
        assert len(segments.read(store.folder, 2, store.secret).bodies) == 1  # the newest, one so far


def test_a_deleted_person_is_in_no_file_not_even_decrypted_with_the_key(tmp_path):
    write_version_2(tmp_path)  # migrated first: the old file and its backup must go too
    kept, removed, rejected = unit(10), unit(11), unit(12)
    with open_store(tmp_path, segment_identities=4) as store:
        store.add_many([Identity(hash="1" * 64, model="Dlib", embeddings=[kept], name="Kept")])
        store.add_many([Identity(hash="2" * 64, model="Dlib", embeddings=[removed], name="Gone")])
        store.add_rejection("2" * 64, rejected)  # a rewrite, then more appends after it
        store.rename("2" * 64, "Gone again")
        store.add_many([person(n) for n in range(20, 26)])
        store.remove("2" * 64)
        store.remove("c" * 64)  # one who came from the old file
        plaintexts = opened_plaintexts(store)
        files = sorted(str(p.relative_to(store.data_dir)) for p in store.data_dir.rglob("*") if p.is_file())
    # Nothing but the lock, the secret and segments, each of which was decrypted above.
    assert [f for f in files if not f.startswith(f"{STORE_FOLDER}/")] == [".lock", SECRET_FILE]
    assert len(plaintexts) >= len(files) - 2
    for data in plaintexts:
        assert not any(holds_vector(data, v) for v in (removed, rejected, unit(3), unit(4)))
        assert b"Gone" not in data and b"Cleo" not in data
    assert any(holds_vector(p, kept) for p in plaintexts)  # the check can see a vector when it is there


class PlantedPayload:
    """What an attacker would plant: unpickling it runs a command that creates a file."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_never_runs_and_is_named(tmp_path):
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    marker = tmp_path / "pwned"
    planted = pickle.dumps({"version": 1, "identities": [PlantedPayload(marker)]})
    (data_dir / legacy.LEGACY_FILE).write_bytes(planted)
    with pytest.raises(StoreRejected, match=f"{data_dir / legacy.LEGACY_FILE}.*refused to load posix.system"):
        open_store(tmp_path)
    assert not marker.exists()
    assert (data_dir / legacy.LEGACY_FILE).read_bytes() == planted  # kept for the operator, never deleted


def test_a_signed_and_encrypted_record_with_code_in_it_is_still_refused(tmp_path):
    """Even someone holding both the secret and the key cannot make the store run code."""
    with open_store(tmp_path) as store:
        key, secret, folder = store.key, store.secret, store.folder
    marker = tmp_path / "pwned"
    body = seal(key, records.RECORD_MAGIC, pickle.dumps({"version": records.RECORD_VERSION, "groups": [PlantedPayload(marker)]}))
    segments.write(folder, 1, [body], secret)
    with pytest.raises(StoreRejected, match="could not be read safely: refused to load posix.system"):
        open_store(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["flip a byte", "drop a record", "swap segments", "stray file"])
def test_an_altered_store_is_refused_not_dropped(tmp_path, damage):
    with open_store(tmp_path, segment_identities=3) as store:
        for n in range(1, 6):
            store.add_many([person(n, name="Ada")])
        folder = store.folder
    first, second = segments.segment_path(folder, 1), segments.segment_path(folder, 2)
    if damage == "flip a byte":
        data = bytearray(first.read_bytes())
        data[60] ^= 0x01
        first.write_bytes(bytes(data))
    elif damage == "drop a record":  # the newest segment holds two records, one identity each
        raw = second.read_bytes()
        length = int.from_bytes(raw[16:20], "big")
        second.write_bytes(raw[:16] + raw[16 + 4 + length + 32 :])
    elif damage == "swap segments":
        a, b = first.read_bytes(), second.read_bytes()
        first.write_bytes(b)
        second.write_bytes(a)
    elif damage == "stray file":
        (folder / "notes.txt").write_text("hello")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(StoreRejected) as refused:
        open_store(tmp_path)
    assert str(folder) in str(refused.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing deleted or repaired


def test_a_write_torn_by_a_crash_is_cut_off_and_the_rest_kept(tmp_path, caplog):
    with open_store(tmp_path) as store:
        store.add_many([person(1, name="Ada")])
        path = segment_file(tmp_path)
        whole = path.read_bytes()
    with open(path, "ab") as handle:  # half a record: a length that runs past the end, then a few bytes
        handle.write((5000).to_bytes(4, "big") + b"\x17" * 100)
    with open_store(tmp_path) as store:
        assert store.get(f"{1:064x}").name == "Ada"
        assert path.read_bytes() == whole
        store.add_many([person(2)])
    with open_store(tmp_path) as store:
        assert len(store) == 2
    assert "cut off 104 bytes" in caplog.text


@pytest.mark.parametrize("tail", ["4096 zeros", "a record whose last page never reached the disk"])
def test_what_a_power_cut_leaves_at_the_end_is_cut_off(tmp_path, tail):
    with open_store(tmp_path) as store:
        store.add_many([person(1, name="Ada")])
        whole = segment_file(tmp_path).read_bytes()
        anchored = store.anchor_path.read_bytes()  # the power cut comes before the torn write reaches the anchor
        if tail == "4096 zeros":
            added = b"\0" * 4096
        else:  # a whole record, its last bytes (the link) zeros
            store.add_many([person(2, name="Bo")])
            record = segment_file(tmp_path).read_bytes()[len(whole):]
            added = record[:-64] + b"\0" * 64
    segment_file(tmp_path).write_bytes(whole + added)
    store.anchor_path.write_bytes(anchored)
    with open_store(tmp_path) as store:
        assert [i.name for i in store.identities()] == ["Ada"]
    assert segment_file(tmp_path).read_bytes() == whole


def test_what_the_next_start_would_refuse_is_never_written(tmp_path):
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
        before = stored_bytes(store)
        odd = Identity(hash="f" * 64, model="Dlib", embeddings=[np.ones(64, np.float32) / 8])
        with pytest.raises(ValueError, match="Dlib vectors have 128 values here, not 64"):
            store.add_many([odd])
        twins = [person(2, email_hash="e" * 64), person(3, email_hash="e" * 64)]
        with pytest.raises(Exception, match="email"):
            store.add_many(twins)
        assert stored_bytes(store) == before
    with open_store(tmp_path) as store:
        assert len(store) == 1


def test_a_signed_record_with_counts_that_wrap_round_is_refused_not_run(tmp_path):
    with open_store(tmp_path) as store:
        key, secret, folder = store.key, store.secret, store.folder
    group = records.Group.of("Dlib", [person(n) for n in range(1, 6)])
    group.vector_counts = np.array([2**62] * 4 + [1], dtype=np.int64)  # sums to 1 in int64
    group.vectors = group.vectors[:1]
    body = seal(key, records.RECORD_MAGIC, pickle.dumps({"version": records.RECORD_VERSION, "groups": [group.to_dict()]}))
    segments.write(folder, 1, [body], secret)
    with pytest.raises(StoreRejected, match="vector_counts"):
        open_store(tmp_path)


def test_readers_never_wait_for_the_disk(tmp_path, monkeypatch):
    """A write stuck in fsync (a slow disk) holds up neither matching nor reading identities."""
    import threading

    from recognition.matching.matcher import Matcher

    with open_store(tmp_path) as store:
        store.add_many([person(1, name="Ada")])
        inside, release = threading.Event(), threading.Event()
        real_fsync = os.fsync

        def slow_fsync(descriptor):
            inside.set()
            release.wait(30)
            return real_fsync(descriptor)

        monkeypatch.setattr(os, "fsync", slow_fsync)
        writer = threading.Thread(target=store.rename, args=(f"{1:064x}", "Ada L."))
        writer.start()
        try:
            assert inside.wait(10)
            answers = {}
            reader = threading.Thread(target=lambda: answers.update(
                match=Matcher(store, "Dlib").identify(unit(1)[np.newaxis, :])[0], got=store.get(f"{1:064x}"),
                listed=store.summaries()))
            reader.start()
            reader.join(10)
            assert not reader.is_alive(), "a reader waited for the disk"
            assert answers["match"].name == "Ada" and answers["got"].name == "Ada"
        finally:
            release.set()
            writer.join(30)
        assert store.get(f"{1:064x}").name == "Ada L."


def test_without_its_key_the_store_is_unreadable_and_says_so(tmp_path):
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
    key = tmp_path / "keys" / "store.key"
    os.rename(key, tmp_path / "moved.key")
    with pytest.raises(StoreKeyError, match=f"is encrypted and its key is not at {key}"):
        open_store(tmp_path)
    assert not key.exists()  # a new key is never made up for an existing store
    StoreKey.generate().write(key)
    with pytest.raises(StoreKeyError, match="was encrypted with key id .* but the key given is"):
        open_store(tmp_path)


def test_without_the_installation_secret_the_store_cannot_be_verified(tmp_path):
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
    (tmp_path / "db" / SECRET_FILE).unlink()
    with pytest.raises(StoreRejected, match="installation_secret is missing"):
        open_store(tmp_path)


def test_rotating_the_key_re_encrypts_every_segment(tmp_path):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n, name=f"p{n}") for n in range(1, 6)])
        old = StoreKey.read(store.key_path)
        new = store.rotate_key()
        assert new.fingerprint != old.fingerprint
        assert not pending_key_path(store.key_path).exists()
    with open_store(tmp_path) as reopened:
        assert reopened.get(f"{3:064x}").name == "p3" and reopened.key.fingerprint == new.fingerprint
    old.write(tmp_path / "keys" / "store.key")
    with pytest.raises(StoreKeyError, match="was encrypted with key id"):
        open_store(tmp_path)


def crash_segment_writes(monkeypatch, after: int) -> None:
    """The process dies (as far as the store can tell) while writing the segment after the first `after`."""
    real_write, written = segments.write, []

    def write(folder, number, bodies, secret):
        if len(written) == after:
            raise OSError("simulated crash")
        written.append(number)
        return real_write(folder, number, bodies, secret)

    monkeypatch.setattr(segments, "write", write)


def test_a_rotation_cut_short_is_finished_on_the_next_open(tmp_path, monkeypatch):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n, name=f"p{n}") for n in range(1, 6)])
        crash_segment_writes(monkeypatch, after=2)
        with pytest.raises(StoreWriteFailed, match="simulated crash; the rotation is finished when"):
            store.rotate_key()
        monkeypatch.undo()
    pending = pending_key_path(tmp_path / "keys" / "store.key")
    new_id = StoreKey.read(pending).fingerprint
    with open_store(tmp_path) as reopened:  # two segments under the new key, one under the old
        assert [i.name for i in reopened.identities()] == [f"p{n}" for n in range(1, 6)]
        assert reopened.key.fingerprint == new_id and not pending.exists()
    with open_store(tmp_path) as again:
        assert len(again) == 5


def legacy_identities():
    return [Identity(hash="c" * 64, model="Dlib", name="Cleo", created=5.0, embeddings=[unit(3)],
                     email_hash="d" * 64, rejections=[unit(4)]),
            Identity(hash="e" * 64, model="Dlib", name=None, created=6.0, embeddings=[unit(5), unit(6)])]


def test_a_version_1_store_is_migrated_and_the_clear_file_removed(tmp_path):
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    rows = [legacy.to_row(i) for i in legacy_identities()]
    (data_dir / legacy.LEGACY_FILE).write_bytes(pickle.dumps({"version": 1, "identities": rows}))
    (data_dir / SECRET_FILE).write_bytes(b"s" * 32)
    with open_store(tmp_path) as store:
        assert store.get("c" * 64).name == "Cleo" and store.secret == b"s" * 32
        assert len(store.get("c" * 64).rejections) == 1 and len(store.get("e" * 64).embeddings) == 2
        assert store.find_by_email_hash("d" * 64).hash == "c" * 64
    assert sorted(os.listdir(data_dir)) == [".lock", STORE_FOLDER, SECRET_FILE]
    assert not holds_vector(b"".join(p.read_bytes() for p in (data_dir / STORE_FOLDER).iterdir()), unit(3))


def write_version_2(tmp_path) -> None:
    """A data dir as the previous release left it: faces.pkl sealed whole, and a v1 backup beside it."""
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    secret = b"t" * 32
    (data_dir / SECRET_FILE).write_bytes(secret)
    key = StoreKey.generate().write(tmp_path / "keys" / "store.key")
    (data_dir / legacy.LEGACY_FILE).write_bytes(legacy.encode(legacy_identities(), key, secret))
    (data_dir / f"{legacy.LEGACY_FILE}.v1.backup").write_bytes(seal(key, legacy.BACKUP_MAGIC, b"old"))


def test_a_version_2_store_is_migrated_to_segments(tmp_path):
    write_version_2(tmp_path)
    with open_store(tmp_path, read_only=True) as reader:  # a read-only look changes nothing
        assert [i.name for i in reader.identities()] == ["Cleo", None]
    assert (tmp_path / "db" / legacy.LEGACY_FILE).exists()
    with open_store(tmp_path) as store:
        assert [(i.hash, i.name) for i in store.identities()] == [("c" * 64, "Cleo"), ("e" * 64, None)]
    assert sorted(os.listdir(tmp_path / "db")) == [".lock", STORE_FOLDER, SECRET_FILE]  # backup gone too
    with open_store(tmp_path) as again:
        assert len(again) == 2


def test_an_old_file_that_cannot_be_migrated_is_left_in_charge(tmp_path):
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    twins = [legacy.to_row(i) for i in legacy_identities()]
    twins[1]["email_hash"] = twins[0]["email_hash"]  # two people bound to one email: segments refuse that
    (data_dir / legacy.LEGACY_FILE).write_bytes(pickle.dumps({"version": 1, "identities": twins}))
    with pytest.raises(StoreRejected, match="cannot be migrated .*it was left as it is"):
        open_store(tmp_path)
    assert (data_dir / legacy.LEGACY_FILE).exists() and not any((data_dir / STORE_FOLDER).glob("*.seg"))


def test_a_clean_up_cut_short_is_finished_and_a_newer_old_file_refused(tmp_path):
    write_version_2(tmp_path)
    old = (tmp_path / "db" / legacy.LEGACY_FILE).read_bytes()
    backup = tmp_path / "db" / f"{legacy.LEGACY_FILE}.v1.backup"
    backup_bytes = backup.read_bytes()
    open_store(tmp_path).close()  # migrated
    (tmp_path / "db" / legacy.LEGACY_FILE).write_bytes(old)  # as if the crash came before the clean-up
    backup.write_bytes(backup_bytes)
    with open_store(tmp_path) as store:
        assert len(store) == 2
    assert sorted(os.listdir(tmp_path / "db")) == [".lock", STORE_FOLDER, SECRET_FILE]
    with open_store(tmp_path) as store:  # an older release ran here since and enrolled someone new
        key, secret = store.key, store.secret
    newer = legacy_identities() + [Identity(hash="f" * 64, model="Dlib", embeddings=[unit(9)], name="New")]
    (tmp_path / "db" / legacy.LEGACY_FILE).write_bytes(legacy.encode(newer, key, secret))
    with pytest.raises(StoreRejected, match="holds 1 people the segments do not"):
        open_store(tmp_path)
    assert (tmp_path / "db" / legacy.LEGACY_FILE).exists()


def test_a_migration_cut_short_starts_over_from_the_old_file(tmp_path, monkeypatch):
    write_version_2(tmp_path)
    real_rename = os.rename

    def crash_before_the_swap(source, target):
        if str(source).endswith(STAGING_FOLDER):
            raise OSError("simulated crash")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", crash_before_the_swap)
    with pytest.raises(OSError, match="simulated crash"):
        open_store(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "db" / STAGING_FOLDER).is_dir() and (tmp_path / "db" / legacy.LEGACY_FILE).exists()
    with open_store(tmp_path) as store:
        assert len(store) == 2
    assert not (tmp_path / "db" / STAGING_FOLDER).exists()


def test_a_record_from_a_newer_release_is_refused(tmp_path):
    with open_store(tmp_path) as store:
        key, secret, folder = store.key, store.secret, store.folder
    body = seal(key, records.RECORD_MAGIC, pickle.dumps({"version": 9, "groups": []}))
    segments.write(folder, 1, [body], secret)
    with pytest.raises(StoreRejected, match=f"record version 9, expected {records.RECORD_VERSION}; it was written by a newer release"):
        open_store(tmp_path)


def test_rotating_again_after_a_failed_rotation_keeps_the_key_the_segments_need(tmp_path, monkeypatch):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n, name=f"p{n}") for n in range(1, 6)])
        crash_segment_writes(monkeypatch, after=1)
        with pytest.raises(StoreWriteFailed):
            store.rotate_key()
        monkeypatch.undo()
        pending = StoreKey.read(pending_key_path(store.key_path)).fingerprint
        assert store.rotate_key().fingerprint == pending  # not a third key: segment 1 is already under it
    with open_store(tmp_path) as reopened:
        assert len(reopened) == 5 and reopened.key.fingerprint == pending


def test_records_written_before_attributes_existed_still_open(tmp_path):
    with open_store(tmp_path) as store:
        key, secret, folder = store.key, store.secret, store.folder
    store.anchor_path.unlink()  # a store of an earlier release: it had no anchor
    raw = records.Group.of("Dlib", [person(1, name="Ada")]).to_dict()
    del raw["attributes"]
    body = seal(key, records.RECORD_MAGIC, pickle.dumps({"version": 3, "groups": [raw]}))
    segments.write(folder, 1, [body], secret)
    with open_store(tmp_path) as store:
        assert [(i.name, i.attributes) for i in store.identities()] == [("Ada", None)]
