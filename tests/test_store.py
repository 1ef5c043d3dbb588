"""The store's promises: survives restarts, one writer, encrypted, signed, strictly unpickled, migrated."""
import os
import pickle
import stat
import threading

import numpy as np
import pytest

from recognition.store import legacy as store_file
from recognition.store.atomic import DataDirInUse
from recognition.store.file_store import SECRET_FILE, STORE_FILE, FaceStore, Identity, StoreKeyError, StoreRejected
from recognition.store.vault import StoreKey, pending_key_path
from tests.conftest import open_store


def unit(seed: int, dims: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def holds_vector(data: bytes, vector: np.ndarray) -> bool:
    """Whether the bytes contain the vector in the clear, as float32 or float64, in either byte order."""
    head = np.asarray(vector[:8])
    return any(head.astype(dtype).tobytes() in data for dtype in ("<f4", ">f4", "<f8", ">f8"))


def test_identities_survive_a_restart(tmp_path):
    with open_store(tmp_path) as store:
        store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)], name="Ada", created=100.0))
        store.add(Identity(hash="b" * 64, model="Facenet", embeddings=[unit(2), unit(3)], created=200.0))
        secret = store.secret
    with open_store(tmp_path) as reopened:
        assert [(i.hash, i.name, i.model, i.created) for i in reopened.identities()] == [
            ("a" * 64, "Ada", "Dlib", 100.0), ("b" * 64, None, "Facenet", 200.0)]
        assert np.array_equal(reopened.get("b" * 64).embeddings[1], unit(3))
        assert reopened.secret == secret


def test_gallery_holds_only_its_model_and_refreshes_after_a_write(store):
    before = store.gallery("Dlib")
    store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)]))
    store.add(Identity(hash="b" * 64, model="Facenet", embeddings=[unit(2, 128)]))
    assert before.hashes == ()
    gallery = store.gallery("Dlib")
    assert gallery.hashes == ("a" * 64,) and gallery.vectors.shape == (1, 128)
    assert store.gallery("ArcFace").hashes == ()


def test_files_are_private_and_the_key_lives_outside_the_data_dir(tmp_path, store):
    store.add(Identity(hash="d" * 64, model="Dlib", embeddings=[unit(5)]))
    data_dir, key = tmp_path / "db", tmp_path / "keys" / "store.key"
    assert sorted(os.listdir(data_dir)) == sorted([".lock", SECRET_FILE, STORE_FILE])
    for path in (data_dir / SECRET_FILE, data_dir / STORE_FILE, key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(key.parent).st_mode) == 0o700
    with pytest.raises(StoreKeyError, match="inside the data dir"):
        FaceStore(tmp_path / "other", tmp_path / "other" / "store.key")


def test_names_vectors_and_email_hashes_are_encrypted_on_disk(store):
    vector = unit(7)
    email_hash = store.email_hash("ada@example.org")
    store.add(Identity(hash="e" * 64, model="Dlib", embeddings=[vector], name="Ada Lovelace", email_hash=email_hash))
    data = store.path.read_bytes()
    assert not holds_vector(data, vector)
    assert b"Ada Lovelace" not in data and email_hash.encode() not in data and b"ada@example" not in data
    assert store.find_by_email_hash(store.email_hash(" ADA@example.org ")).name == "Ada Lovelace"


def test_a_second_writer_on_the_same_data_dir_is_refused(tmp_path, store):
    with pytest.raises(DataDirInUse, match=f"pid {os.getpid()}"):
        open_store(tmp_path)
    with open_store(tmp_path, read_only=True) as reader:  # listing while the server runs is fine
        assert len(reader) == 0
        with pytest.raises(PermissionError):
            reader.add(Identity(hash="f" * 64, model="Dlib", embeddings=[unit(1)]))
    store.close()
    open_store(tmp_path).close()


def test_writers_on_many_threads_lose_nothing(tmp_path, store):
    def enroll(start: int) -> None:
        for n in range(start, start + 10):
            store.add(Identity(hash=f"{n:064x}", model="Dlib", embeddings=[unit(n)]))

    threads = [threading.Thread(target=enroll, args=(t * 10,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    store.close()
    with open_store(tmp_path) as reopened:
        assert len(reopened) == 40


def test_removing_an_identity_takes_its_vectors_off_disk(store):
    kept, removed = unit(10), unit(11)
    store.add(Identity(hash="1" * 64, model="Dlib", embeddings=[kept]))
    store.add(Identity(hash="2" * 64, model="Dlib", embeddings=[removed], rejections=[unit(12)]))
    store.remove("2" * 64)
    assert store.get("2" * 64) is None and store.gallery("Dlib").hashes == ("1" * 64,)
    key = StoreKey.read(store.key_path)
    plain = store_file.decode(store.path.read_bytes(), [key], store.secret, "test")
    assert [i.hash for i in plain] == ["1" * 64]


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
    (data_dir / STORE_FILE).write_bytes(planted)
    with pytest.raises(StoreRejected, match=f"{data_dir / STORE_FILE}.*refused to load posix.system"):
        open_store(tmp_path)
    assert not marker.exists()
    assert (data_dir / STORE_FILE).read_bytes() == planted  # kept for the operator, never deleted


def test_a_signed_and_encrypted_pickle_with_code_in_it_is_still_refused(tmp_path):
    """Even someone holding both the secret and the key cannot make the server run code."""
    open_store(tmp_path).close()
    data_dir, marker = tmp_path / "db", tmp_path / "pwned"
    key = StoreKey.read(tmp_path / "keys" / "store.key")
    secret = (data_dir / SECRET_FILE).read_bytes()
    from recognition.store.vault import seal

    sealed = seal(key, store_file.STORE_MAGIC, pickle.dumps({"version": 2, "identities": [PlantedPayload(marker)]}))
    (data_dir / STORE_FILE).write_bytes(sealed + store_file.sign(secret, sealed))
    with pytest.raises(StoreRejected, match="could not be read safely"):
        open_store(tmp_path)
    assert not marker.exists()


def test_an_altered_store_is_refused_not_dropped(tmp_path):
    with open_store(tmp_path) as store:
        store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)], name="Ada"))
    path = tmp_path / "db" / STORE_FILE
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreRejected, match="failed its signature check"):
        open_store(tmp_path)
    assert path.read_bytes() == bytes(data)


def test_without_its_key_the_store_is_unreadable_and_says_so(tmp_path):
    with open_store(tmp_path) as store:
        store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)]))
    key = tmp_path / "keys" / "store.key"
    os.rename(key, tmp_path / "moved.key")
    with pytest.raises(StoreKeyError, match=f"is encrypted and its key is not at {key}"):
        open_store(tmp_path)
    assert not key.exists()  # a new key is never made up for an existing store
    StoreKey.generate().write(key)
    with pytest.raises(StoreKeyError, match="was encrypted with key id .* but the key given is"):
        open_store(tmp_path)


def test_rotating_the_key_re_encrypts_in_place(tmp_path):
    with open_store(tmp_path) as store:
        store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)], name="Ada"))
        old = StoreKey.read(store.key_path)
        new = store.rotate_key()
        assert new.fingerprint != old.fingerprint
        assert not pending_key_path(store.key_path).exists()
    with open_store(tmp_path) as reopened:
        assert reopened.get("a" * 64).name == "Ada" and reopened.key.fingerprint == new.fingerprint
    old.write(tmp_path / "keys" / "store.key")
    with pytest.raises(StoreKeyError, match="was encrypted with key id"):
        open_store(tmp_path)


def test_a_rotation_cut_short_is_finished_on_the_next_open(tmp_path, monkeypatch):
    with open_store(tmp_path) as store:
        store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)], name="Ada"))
        real_replace = os.replace

        def crash_before_the_key_swap(source, target):
            if str(source).endswith(".next"):
                raise OSError("simulated crash")
            return real_replace(source, target)

        monkeypatch.setattr(os, "replace", crash_before_the_key_swap)
        with pytest.raises(OSError, match="simulated crash"):
            store.rotate_key()
        monkeypatch.undo()
    pending = pending_key_path(tmp_path / "keys" / "store.key")
    new_id = StoreKey.read(pending).fingerprint
    with open_store(tmp_path) as reopened:  # store is under the new key, the key file still the old one
        assert reopened.get("a" * 64).name == "Ada"
        assert reopened.key.fingerprint == new_id and not pending.exists()


def test_a_version_1_store_is_migrated_after_an_encrypted_backup(tmp_path):
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    vector = unit(3)
    legacy = {"version": 1, "identities": [
        {"hash": "c" * 64, "model": "Dlib", "name": "Cleo", "created": 5.0, "embeddings": [vector]}]}
    (data_dir / STORE_FILE).write_bytes(pickle.dumps(legacy, protocol=pickle.HIGHEST_PROTOCOL))
    (data_dir / SECRET_FILE).write_bytes(b"s" * 32)
    with open_store(tmp_path) as store:
        assert store.get("c" * 64).name == "Cleo" and store.secret == b"s" * 32
        backups = store.backups()
    assert [b.name for b in backups] == [f"{STORE_FILE}.v1.backup"]
    for path in (data_dir / STORE_FILE, backups[0]):
        data = path.read_bytes()
        assert not holds_vector(data, vector) and b"Cleo" not in data
    assert (data_dir / STORE_FILE).read_bytes().startswith(store_file.STORE_MAGIC)
    with open_store(tmp_path) as again:  # the backup survives a key rotation and still decrypts
        again.rotate_key()
        from recognition.store.vault import unseal

        original = unseal([again.key], store_file.BACKUP_MAGIC, backups[0].read_bytes(), "backup")
        assert store_file.decode_legacy(original, "backup")[0].name == "Cleo"


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    with open_store(tmp_path) as store:
        key, secret = store.key, store.secret
    from recognition.store.vault import seal

    sealed = seal(key, store_file.STORE_MAGIC, pickle.dumps({"version": 9, "identities": []}))
    (tmp_path / "db" / STORE_FILE).write_bytes(sealed + store_file.sign(secret, sealed))
    with pytest.raises(StoreRejected, match="schema version 9, expected 2; it was written by a newer release"):
        open_store(tmp_path)
