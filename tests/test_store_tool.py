"""python -m tools.store: the operator's commands, run as the operator runs them."""
import subprocess
import sys

import numpy as np
import pytest

from recognition.store.identity import Identity
from tests.conftest import ROOT, open_store
from tools.store import main


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def installation(tmp_path):
    """A data dir with two identities, one registered with an email, and the tool's settings for it."""
    with open_store(tmp_path) as store:
        store.add_many([Identity(hash="a1" * 32, model="Dlib", embeddings=[unit(1)], name="Ada", created=1.0,
                                 email_hash=store.email_hash("ada@example.org"), rejections=[unit(9)]),
                        Identity(hash="b2" * 32, model="Dlib", embeddings=[unit(2), unit(3)], name="Bo", created=2.0)])
    env = {"FACE_DATA_DIR": str(tmp_path / "db"), "FACE_KEY_FILE": str(tmp_path / "keys" / "store.key"),
           "FACE_EXPORT_PASSPHRASE": "correct horse"}
    return tmp_path, env


def test_list_shows_identities_without_vectors(installation, capsys):
    _, env = installation
    assert main(["list"], env) == 0
    out = capsys.readouterr().out
    assert "2 identities" in out and "a1" * 32 in out and "Ada" in out and "registered" in out
    assert "Bo" in out and "2 vectors" in out


def test_verify_passes_a_sound_store_and_fails_an_altered_one(installation, capsys):
    folder, env = installation
    assert main(["verify"], env) == 0
    assert "2 identities: sound" in capsys.readouterr().out
    path = folder / "db" / "faces" / "00000001.seg"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["verify"], env) == 1
    assert f"{path} failed its signature check" in capsys.readouterr().err


def test_delete_by_prefix_removes_the_identity_for_good(installation, capsys):
    folder, env = installation
    assert main(["delete", "b2b2b2b2"], env) == 0
    assert "deleted " + "b2" * 32 in capsys.readouterr().out
    with open_store(folder, read_only=True) as store:
        assert [i.name for i in store.identities()] == ["Ada"]
    assert main(["delete", "b2b2b2b2"], env) == 1
    assert "names no identities" in capsys.readouterr().err


def test_export_then_import_into_another_installation(installation, tmp_path_factory, capsys):
    folder, env = installation
    exported = folder / "faces.export"
    assert main(["export", str(exported)], env) == 0
    assert b"Ada" not in exported.read_bytes()
    other = tmp_path_factory.mktemp("other")
    open_store(other).close()
    other_env = {"FACE_DATA_DIR": str(other / "db"), "FACE_KEY_FILE": str(other / "keys" / "store.key")}
    assert main(["import", str(exported)], {**other_env, "FACE_EXPORT_PASSPHRASE": "wrong"}) == 1
    assert "passphrase does not open" in capsys.readouterr().err
    assert main(["import", str(exported)], {**other_env, "FACE_EXPORT_PASSPHRASE": "correct horse"}) == 0
    assert "imported 2 identities" in capsys.readouterr().out
    with open_store(other, read_only=True) as store:
        assert [(i.hash, i.name, i.email_hash) for i in store.identities()] == [("a1" * 32, "Ada", None), ("b2" * 32, "Bo", None)]
        assert np.array_equal(store.get("b2" * 32).embeddings[1], unit(3))
    assert main(["import", str(exported)], {**other_env, "FACE_EXPORT_PASSPHRASE": "correct horse"}) == 0
    assert "imported 0 identities; 2 were already here" in capsys.readouterr().out


def test_rotate_key_and_changing_commands_wait_for_the_server(installation, capsys):
    folder, env = installation
    with open_store(folder):  # a running server holds the data dir
        assert main(["rotate-key"], env) == 1
        assert "is in use by pid" in capsys.readouterr().err
        assert main(["list"], env) == 0  # reading is fine meanwhile
    old = (folder / "keys" / "store.key").read_text()
    assert main(["rotate-key"], env) == 0 and "key rotated" in capsys.readouterr().out
    assert (folder / "keys" / "store.key").read_text() != old
    assert main(["verify"], env) == 0


def test_the_module_runs_from_the_command_line(installation):
    _, env = installation
    done = subprocess.run([sys.executable, "-m", "tools.store", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Ada" in done.stdout, done.stderr


def test_copy_to_postgresql_and_back_keeps_everything(installation, postgres, tmp_path_factory, capsys):
    """file -> PostgreSQL -> another file store: the same hashes, names, email bindings, rejections and
    times; the installation secret and key travel, so an email still finds its identity."""
    from recognition.store.pickle_store import PickleStore
    from recognition.store.postgres.store import PostgresStore

    folder, env = installation
    url = postgres.new_database()
    with open_store(folder, read_only=True) as original:
        before = original.identities()
        email = original.email_hash("ada@example.org")
    assert main(["copy", url], env) == 0
    assert "copied 2 identities" in capsys.readouterr().out
    with PostgresStore(url, folder / "db", folder / "keys" / "store.key", follow=False) as shared:
        assert shared.email_hash("ada@example.org") == email and shared.find_by_email_hash(email).name == "Ada"
    assert main(["copy", url], env) == 1  # into a store that holds people already: refused
    assert "holds 2 identities already" in capsys.readouterr().err
    back = tmp_path_factory.mktemp("back") / "db"
    assert main(["--store", url, "copy", "file", "--to-data-dir", str(back)], env) == 0
    with PickleStore(back, folder / "keys" / "store.key", read_only=True) as returned:  # the installation's key
        after = returned.identities()
        assert returned.find_by_email_hash(email).hash == "a1" * 32
    assert [(i.hash, i.name, i.email_hash, i.created, i.attributes) for i in after] == \
           [(i.hash, i.name, i.email_hash, i.created, i.attributes) for i in before]
    for old, new in zip(before, after):
        assert np.array_equal(np.vstack(old.embeddings), np.vstack(new.embeddings))
        assert len(old.rejections) == len(new.rejections)
        assert all(np.array_equal(a, b) for a, b in zip(old.rejections, new.rejections))
    assert main(["copy", "mysql://nowhere/faces"], env) == 1
    assert "neither 'file' nor a postgresql:// URL" in capsys.readouterr().err
