import os
import stat

import numpy as np

from recognition.store import SECRET_FILE, STORE_FILE, FaceStore, Identity


def unit(seed: int, dims: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_identities_survive_a_restart(tmp_path):
    store = FaceStore(tmp_path)
    store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)], name="Ada", created=100.0))
    store.add(Identity(hash="b" * 64, model="Facenet", embeddings=[unit(2), unit(3)], created=200.0))
    reopened = FaceStore(tmp_path)
    assert [(i.hash, i.name, i.model, i.created) for i in reopened.identities()] == [
        ("a" * 64, "Ada", "Dlib", 100.0), ("b" * 64, None, "Facenet", 200.0)]
    assert np.array_equal(reopened.get("b" * 64).embeddings[1], unit(3))
    assert reopened.secret == store.secret


def test_gallery_holds_only_its_model(tmp_path):
    store = FaceStore(tmp_path)
    store.add(Identity(hash="a" * 64, model="Dlib", embeddings=[unit(1)]))
    store.add(Identity(hash="b" * 64, model="Facenet", embeddings=[unit(2, 128)]))
    gallery = store.gallery("Dlib")
    assert gallery.hashes == ("a" * 64,) and gallery.vectors.shape == (1, 128)
    assert store.gallery("ArcFace").hashes == ()


def test_gallery_snapshot_refreshes_after_a_write(tmp_path):
    store = FaceStore(tmp_path)
    before = store.gallery("Dlib")
    store.add(Identity(hash="c" * 64, model="Dlib", embeddings=[unit(4)]))
    assert before.hashes == () and store.gallery("Dlib").hashes == ("c" * 64,)


def test_secret_and_store_are_private_and_no_temporary_files_remain(tmp_path):
    store = FaceStore(tmp_path)
    store.add(Identity(hash="d" * 64, model="Dlib", embeddings=[unit(5)]))
    assert sorted(os.listdir(tmp_path)) == sorted([SECRET_FILE, STORE_FILE])
    for name in (SECRET_FILE, STORE_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    assert len(store.secret) == 32
