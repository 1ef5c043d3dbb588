"""The anchor outside the data dir: a store rolled back, cut short, swapped for an older copy or for a
planted old-format file is refused at open, never silently loaded; a crash between a write and the
anchor's update loses nothing; a restore from a backup is accepted only when the operator says so."""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from recognition.store import legacy, records, segments
from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.pickle_store import SECRET_FILE, STORE_FOLDER
from tests.conftest import ROOT, open_store
from tests.test_store_contract import unit
from tools.store import main as store_tool


def person(n: int, **fields) -> Identity:
    return Identity(hash=f"{n:064x}", model="Dlib", embeddings=[unit(n)], created=float(n), **fields)


def hashes(store) -> set[str]:
    return {identity.hash for identity in store.identities()}


def files(folder) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def refused(tmp_path, match: str) -> str:
    """Opening is refused with a message that matches, says how to accept a deliberate restore, and
    changes no file of the store."""
    folder = tmp_path / "db" / STORE_FOLDER
    before = files(folder) if folder.is_dir() else None
    with pytest.raises(StoreRejected, match=match) as failure:
        open_store(tmp_path)
    assert "python -m tools.store accept-restore" in str(failure.value)
    assert (files(folder) if folder.is_dir() else None) == before
    return str(failure.value)


def record_starts(data: bytes) -> list[int]:
    """Where each record of a segment file begins: after the header, length (4) | body | link (32)."""
    starts, offset = [], segments.HEADER.size
    while offset < len(data):
        starts.append(offset)
        offset += 4 + int.from_bytes(data[offset : offset + 4], "big") + 32
    return starts


def tool_env(tmp_path) -> dict:
    return {"FACE_DATA_DIR": str(tmp_path / "db"), "FACE_KEY_FILE": str(tmp_path / "keys" / "store.key")}


def test_a_segment_replaced_by_its_older_copy_is_refused(tmp_path):
    """The copy that still holds a person deleted since: loading it would bring them back."""
    with open_store(tmp_path, segment_identities=3) as store:
        store.add_many([person(n) for n in range(1, 6)])
        older = store.folder / "00000001.seg"
        kept = older.read_bytes()
        store.remove(f"{2:064x}")  # segment 1 rewritten without them
    older.write_bytes(kept)
    refused(tmp_path, r"00000001.seg is at generation \d+, its anchor at \d+: rolled back")


@pytest.mark.parametrize("cut", ["at the record's start", "in the middle of the record"])
def test_the_newest_segments_last_record_cut_off_is_refused(tmp_path, cut):
    """A tail cut at a record boundary chains correctly, and one cut mid-record looks like a torn write:
    both used to open without the last person. The anchor knows that record was acknowledged."""
    with open_store(tmp_path) as store:
        for n in range(1, 4):
            store.add_many([person(n)])
        newest = store.folder / "00000001.seg"
        data = newest.read_bytes()
    start = record_starts(data)[-1]
    newest.write_bytes(data[: start if cut == "at the record's start" else start + 40])
    refused(tmp_path, "00000001.seg is at generation 2, its anchor at 3: rolled back to an older copy, or its "
                      "newest records cut off")


def test_the_whole_data_dir_replaced_by_an_older_copy_is_refused(tmp_path):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(1), person(2)])
    shutil.copytree(tmp_path / "db", tmp_path / "backup")
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(3)])  # a new segment
        store.rename(f"{1:064x}", "renamed")
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "backup", tmp_path / "db")
    message = refused(tmp_path, "00000001.seg is at generation 1, its anchor at 3")
    assert "segment 2 is gone" in message


def test_accepting_a_restore_is_the_operators_call_and_an_even_older_copy_stays_refused(tmp_path, capsys):
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
    shutil.copytree(tmp_path / "db", tmp_path / "oldest")
    with open_store(tmp_path) as store:
        store.add_many([person(2)])
    shutil.copytree(tmp_path / "db", tmp_path / "backup")
    with open_store(tmp_path) as store:
        store.add_many([person(3)])
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "backup", tmp_path / "db")
    assert store_tool(["verify"], tool_env(tmp_path)) == 1
    assert "rolled back" in capsys.readouterr().err
    assert store_tool(["accept-restore"], tool_env(tmp_path)) == 0
    assert "accepted" in capsys.readouterr().out
    with open_store(tmp_path) as store:  # the backup as it was, and it takes writes again
        assert hashes(store) == {f"{1:064x}", f"{2:064x}"}
        store.add_many([person(4)])
    assert store_tool(["verify"], tool_env(tmp_path)) == 0
    assert "anchor: matches its anchor" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "oldest", tmp_path / "db")
    refused(tmp_path, "rolled back")


def test_a_planted_version_1_file_is_never_migrated_into_an_anchored_store(tmp_path):
    with open_store(tmp_path) as store:
        store.add_many([person(1, name="Ada")])
    shutil.rmtree(tmp_path / "db" / STORE_FOLDER)
    refused(tmp_path, f"{tmp_path / 'db' / STORE_FOLDER}/ is gone")
    planted = pickle.dumps({"version": 1, "identities": [legacy.to_row(person(9, name="Mallory"))]})
    (tmp_path / "db" / legacy.LEGACY_FILE).write_bytes(planted)
    refused(tmp_path, "faces.pkl is there instead of segments")
    assert (tmp_path / "db" / legacy.LEGACY_FILE).read_bytes() == planted  # left for the operator to look at


def test_a_segment_the_anchor_lists_that_is_gone_is_refused(tmp_path):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n) for n in range(1, 6)])
    (tmp_path / "db" / STORE_FOLDER / "00000003.seg").unlink()
    refused(tmp_path, "segment 3 is gone")


def test_even_with_the_installation_secret_records_cannot_be_dropped_or_moved(tmp_path):
    """Someone who kept the raw installation secret of an earlier release can re-chain a segment's
    links; the anchor (a last link, under the store key) and each record's sealed place still hold."""
    with open_store(tmp_path) as store:
        for n in range(1, 4):
            store.add_many([person(n)])
        secret, folder = store.secret, store.folder
    content = segments.read(folder, 1, secret)
    segments.write(folder, 1, [content.bodies[0], content.bodies[2]], secret)  # the middle one dropped
    refused(tmp_path, "00000001.seg is not what its anchor says")
    segments.write(folder, 1, content.bodies, secret)
    segments.write(folder, 2, [content.bodies[1]], secret)  # a record copied into a segment of its own
    with pytest.raises(StoreRejected, match="was written to segment 1, not 2"):
        open_store(tmp_path)


def test_a_store_of_an_earlier_release_is_anchored_and_its_secret_sealed_on_first_open(tmp_path):
    """Raw secret, records without generations, no anchor: read-only opens read it as it is; the first
    writer's open seals the secret in place and anchors the store, and it is protected from then on."""
    with open_store(tmp_path) as store:
        key, folder = store.key, store.folder
        anchor = store.anchor_path
    secret = os.urandom(32)
    (tmp_path / "db" / SECRET_FILE).write_bytes(secret)
    anchor.unlink()
    old_record = records.encode(records.group_by_model([person(1), person(2)]), key)  # version 4
    segments.write(folder, 1, [old_record], secret)
    shutil.copytree(tmp_path / "db", tmp_path / "before")
    with open_store(tmp_path, read_only=True) as reader:
        assert len(reader) == 2 and reader.secret == secret and "no anchor yet" in reader.anchor_status
    assert (tmp_path / "db" / SECRET_FILE).read_bytes() == secret and not anchor.exists()
    with open_store(tmp_path) as store:
        assert store.secret == secret
        store.remove(f"{1:064x}")
    sealed = (tmp_path / "db" / SECRET_FILE).read_bytes()
    assert secret not in sealed and anchor.exists()
    with open_store(tmp_path, read_only=True) as reader:
        assert reader.secret == secret and hashes(reader) == {f"{2:064x}"}
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "before", tmp_path / "db")  # the deleted person's copy, raw secret and all
    refused(tmp_path, "installation_secret is in the clear, but this release sealed it")
    (tmp_path / "db" / SECRET_FILE).write_bytes(sealed)  # and with the sealed secret put back too
    refused(tmp_path, "rolled back")


def test_rotating_the_key_reseals_the_secret_and_the_anchor(tmp_path):
    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n) for n in range(1, 5)])
        secret = store.secret
        store.rotate_key()
    shutil.copytree(tmp_path / "db", tmp_path / "backup")
    with open_store(tmp_path) as store:
        assert store.secret == secret and len(store) == 4
        store.remove(f"{1:064x}")
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "backup", tmp_path / "db")
    refused(tmp_path, "rolled back")


def test_an_anchor_that_cannot_be_written_is_reported_loudly_not_a_crash(tmp_path, caplog, capsys):
    (tmp_path / "not-a-folder").write_text("a file where the anchor's folder should be")
    anchor_path = tmp_path / "not-a-folder" / "store.anchor"
    with open_store(tmp_path, anchor_path=anchor_path) as store:
        assert "ROLLBACK PROTECTION IS OFF" in caplog.text and str(anchor_path) in caplog.text
        assert store.anchor_status.startswith("NOT ANCHORED")
        store.add_many([person(1)])  # the store works on
    with open_store(tmp_path, anchor_path=anchor_path) as store:
        assert len(store) == 1
    env = {**tool_env(tmp_path), "FACE_ANCHOR_FILE": str(anchor_path)}
    assert store_tool(["verify"], env) == 0
    assert f"anchor: no anchor yet for this data dir in {anchor_path}" in capsys.readouterr().out


def test_the_anchor_can_live_elsewhere_and_must_be_outside_the_data_dir(tmp_path):
    from recognition.store.vault import StoreKeyError

    elsewhere = tmp_path / "anchors" / "faces.anchor"
    with open_store(tmp_path, anchor_path=elsewhere) as store:
        store.add_many([person(1)])
    assert elsewhere.exists() and not (tmp_path / "keys" / "store.key.anchor").exists()
    with pytest.raises(StoreKeyError, match="inside the data dir"):
        open_store(tmp_path, anchor_path=tmp_path / "db" / "anchor")


# A writer that stops for good between a write's segment and its anchor update: the point a kill -9
# must be survivable at. It prints "gap" there and waits to be killed.
WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from recognition.store import anchor
    from recognition.store.identity import Identity
    from recognition.store.pickle_store import PickleStore
    store = PickleStore(sys.argv[1], sys.argv[2], segment_identities=3)
    def person(n):
        vector = np.random.default_rng(n).normal(size=128).astype(np.float32)
        return Identity(hash=f"{n:064x}", model="Dlib", embeddings=[vector / np.linalg.norm(vector)])
    if len(store) == 0:
        store.add_many([person(n) for n in range(1, 6)])
    print("acknowledged", flush=True)
    def stop_here(*args, **kwargs):
        print("gap", flush=True)
        time.sleep(600)
    anchor.Anchor.write = stop_here
    n = int(sys.argv[4])
    {"enroll": lambda: store.add_many([person(n)]), "rollover": lambda: store.add_many([person(n)]),
     "delete": lambda: store.remove(f"{2:064x}")}[sys.argv[3]]()
""")


@pytest.mark.parametrize("write", ["enroll", "delete", "rollover"])
def test_a_kill_between_the_segment_write_and_the_anchor_update_loses_nothing(tmp_path, write):
    """An append, a rewrite, and a segment closed and a new one begun, each killed after its segment is
    on disk and before the anchor says so: the store opens (it is ahead of its anchor), with every
    acknowledged write, and the anchor is brought up to date so a later rollback is still caught."""
    data_dir, key = tmp_path / "db", tmp_path / "keys" / "store.key"
    if write == "rollover":  # segment 2 full after this one: the next enrollment closes it and begins 3
        with open_store(tmp_path, segment_identities=3) as store:
            store.add_many([person(n) for n in range(1, 7)])
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), str(key), write, "50"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "acknowledged"
        assert process.stdout.readline().strip() == "gap"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    acknowledged = {f"{n:064x}" for n in range(1, 7 if write == "rollover" else 6)}
    with open_store(tmp_path, segment_identities=3) as store:
        assert acknowledged - {f"{2:064x}"} <= hashes(store)
        expected = {"enroll": acknowledged | {f"{50:064x}"}, "rollover": acknowledged | {f"{50:064x}"},
                    "delete": acknowledged - {f"{2:064x}"}}[write]
        assert hashes(store) == expected  # the write reached its segment, so it stands
    with open_store(tmp_path, read_only=True) as reader:
        assert reader.anchor_status.startswith("matches its anchor")


def test_a_reader_opening_while_the_server_writes_is_never_refused(tmp_path):
    """`tools.store list` while the server enrolls, rolls segments over and deletes: the reader reads
    the anchor first, so the store can only be at it or ahead of it, never behind."""
    import threading

    with open_store(tmp_path, segment_identities=3) as store:
        done, failures = threading.Event(), []

        def write() -> None:
            try:
                for n in range(1, 121):
                    store.add_many([person(n)])
                    if n % 5 == 0:
                        store.remove(f"{n - 1:064x}")
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
            finally:
                done.set()

        writer = threading.Thread(target=write)
        writer.start()
        opened = 0
        while not done.is_set():
            with open_store(tmp_path, read_only=True, segment_identities=3) as reader:
                assert len(reader) >= 0
            opened += 1
        writer.join(30)
    assert not failures and opened > 3


def test_a_secret_of_the_attackers_choosing_with_the_chain_redone_is_refused(tmp_path):
    """Whoever can write the data dir puts a raw secret of their own there and re-chains every segment
    with it: the chain checks out, but the anchor's links (and this release's sealing) say otherwise."""
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
        folder, secret = store.folder, store.secret
    chosen = os.urandom(32)
    for number in segments.segment_numbers(folder):
        segments.write(folder, number, segments.read(folder, number, secret).bodies, chosen)
    (tmp_path / "db" / SECRET_FILE).write_bytes(chosen)
    refused(tmp_path, "installation_secret is in the clear, but this release sealed it")


def test_a_data_dir_swapped_for_a_link_to_an_older_copy_is_refused(tmp_path):
    with open_store(tmp_path) as store:
        store.add_many([person(1)])
    shutil.copytree(tmp_path / "db", tmp_path / "elsewhere")
    with open_store(tmp_path) as store:
        store.remove(f"{1:064x}")
    shutil.rmtree(tmp_path / "db")
    (tmp_path / "db").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreRejected, match="rolled back"):
        open_store(tmp_path)


def test_a_rotation_cut_short_after_the_anchor_was_resealed_is_finished(tmp_path, monkeypatch):
    """Everything under the new key, the anchor included, and then the crash before the key file is
    replaced: the next open reads the anchor with the pending key and finishes."""
    from recognition.store.interface import StoreWriteFailed
    from recognition.store.pickle_store import PickleStore

    with open_store(tmp_path, segment_identities=2) as store:
        store.add_many([person(n) for n in range(1, 6)])
        monkeypatch.setattr(PickleStore, "_swap_in_key", lambda self, key: (_ for _ in ()).throw(OSError("crash")))
        with pytest.raises(StoreWriteFailed, match="crash"):
            store.rotate_key()
        monkeypatch.undo()
    shutil.copytree(tmp_path / "db", tmp_path / "backup")
    with open_store(tmp_path) as store:
        assert len(store) == 5 and "finishing" not in store.anchor_status
        store.remove(f"{5:064x}")
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "backup", tmp_path / "db")
    refused(tmp_path, "rolled back")


@pytest.mark.parametrize("slot", [0, 1])
def test_an_anchor_torn_by_a_crash_in_its_own_write_still_opens_the_store(tmp_path, slot):
    """The anchor is written in place, in turn into one of two slots: a crash tears only the slot being
    written, and the other holds the write before, whole (the store is then at it, or ahead of it)."""
    from recognition.store import slots

    with open_store(tmp_path) as store:
        for n in range(1, 4):
            store.add_many([person(n)])
        path = store.anchor_path
    data = bytearray(path.read_bytes())
    capacity = slots.HEADER.unpack_from(data)[1]
    start = slots.HEADER.size + slot * capacity + slots.LENGTH.size
    data[start + 40 : start + 60] = bytes(20)  # part of the slot's sealed blob never reached the disk
    path.write_bytes(bytes(data))
    with open_store(tmp_path) as store:
        assert hashes(store) == {f"{n:064x}" for n in range(1, 4)}
    data[slots.HEADER.size + (1 - slot) * capacity + slots.LENGTH.size + 40] ^= 1  # both slots damaged
    path.write_bytes(bytes(data))
    with pytest.raises(StoreRejected, match="holds no whole slot"):
        open_store(tmp_path)


@pytest.mark.parametrize("how", ["older copy", "removed", "damaged"])
def test_the_spent_ledger_put_back_as_it_was_is_refused(tmp_path, how):
    """A signed-out session or a tried burst must stay spent: an older copy of the ledger (or none) put
    in its place would let a copied cookie open /me again."""
    from recognition.store.spent import FILE

    with open_store(tmp_path) as store:
        store.add_many([person(1)])
        assert store.spend(b"challenge:tried", 2e9)
    ledger = tmp_path / "db" / FILE
    older = ledger.read_bytes()
    with open_store(tmp_path) as store:
        assert store.spend(b"session:signed-out", 2e9)
    if how == "older copy":
        ledger.write_bytes(older)
    elif how == "removed":
        ledger.unlink()
    else:
        ledger.write_bytes(ledger.read_bytes()[:-1])
    refused(tmp_path, "spent ledger")
    assert store_tool(["accept-restore"], tool_env(tmp_path)) == 0
    with open_store(tmp_path) as store:  # accepted as it is, and counted on past the anchor
        assert store.spend(b"session:later", 2e9)
    if how == "older copy":
        ledger.write_bytes(older)  # that copy again: still older than the anchor
        refused(tmp_path, "spent ledger")


def test_a_ledger_spent_in_a_crash_before_the_anchor_update_still_opens(tmp_path):
    """Ahead of the anchor (the ledger written, the anchor not yet: a crash between) is accepted."""
    from recognition.store.spent import FILE

    with open_store(tmp_path) as store:
        assert store.spend(b"one", 2e9)
    anchor_file = tmp_path / "keys" / "store.key.anchor"
    kept = anchor_file.read_bytes()
    with open_store(tmp_path) as store:
        assert store.spend(b"two", 2e9)
    anchor_file.write_bytes(kept)  # as if the process died before the anchor's update
    with open_store(tmp_path) as store:
        assert store.is_spent(b"one") and store.is_spent(b"two")
    assert (tmp_path / "db" / FILE).exists()
