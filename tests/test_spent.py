"""The file store's spent ledger (recognition/store/spent.py): pruned, bounded, sealed, re-sealed with the
store key, and a damaged file never locks everyone out. The promises both backends share are in
tests/test_store_contract.py."""
from __future__ import annotations

import pytest

from recognition.store.spent import FILE, RECORD, SpentFile
from recognition.store.vault import StoreKey
from tests.conftest import open_store

SECRET = b"s" * 32


@pytest.fixture
def key():
    return StoreKey.generate()


def ledger(folder, key, *, now, limit=1000):
    return SpentFile(folder, lambda: (key, SECRET), limit=limit, clock=lambda: now[0])


def test_expired_tags_are_pruned_from_the_file_at_the_next_spend(tmp_path, key):
    now = [1000.0]
    spent = ledger(tmp_path, key, now=now)
    for n in range(50):
        assert spent.spend(f"challenge:{n}".encode(), 1030.0)
    assert len(spent) == 50 and spent.is_spent(b"challenge:7")
    now[0] = 1031.0
    assert not spent.is_spent(b"challenge:7")
    assert spent.spend(b"session:a", 5000.0)
    assert len(spent) == 1
    assert len(ledger(tmp_path, key, now=now)) == 0  # (nothing is read until needed) ...
    reread = ledger(tmp_path, key, now=now)
    assert reread.is_spent(b"session:a") and len(reread) == 1  # ... and the file holds only what counts


def test_a_full_ledger_forgets_the_tags_spent_longest_ago(tmp_path, key, caplog):
    now = [1000.0]
    spent = ledger(tmp_path, key, now=now, limit=10)
    for n in range(10):
        spent.spend(f"burst:{n}".encode(), 9000.0)
    assert spent.spend(b"challenge:latest", 1030.0)  # the nonce needed now is kept, the oldest digest goes
    assert len(spent) == 10 and "full" in caplog.text
    assert spent.is_spent(b"challenge:latest") and not spent.is_spent(b"burst:0") and spent.is_spent(b"burst:1")
    assert (tmp_path / FILE).stat().st_size < 10 * RECORD.size + 100  # bounded on disk too


def test_a_flood_of_bursts_never_pushes_a_signed_out_session_out(tmp_path, key, caplog):
    from webapp.http.face_gate import FaceGate

    # Bursts of tiny frames from many addresses each spend a 30-day digest: past the bound, a ledger that
    # forgot the oldest tags whatever they were would let a stolen cookie of a signed-out session back in.
    now = [1000.0]
    spent = ledger(tmp_path, key, now=now, limit=10)
    assert spent.spend(b"session:signed-out", 5000.0)
    gate = FaceGate(SECRET, ledger=spent, liveness="off", clock=lambda: now[0])
    for n in range(50):
        assert gate.spend_burst(f"{n:064x}")
        assert gate.burst_spent(f"{n:064x}") and not gate.spend_burst(f"{n:064x}")
    assert len(spent) == 10 and "full" in caplog.text and "may be accepted again" not in caplog.text
    assert spent.is_spent(b"session:signed-out")
    assert gate.burst_spent(f"{49:064x}") and not gate.burst_spent(f"{40:064x}")  # the oldest digests went
    reread = ledger(tmp_path, key, now=now, limit=10)  # which tags may be forgotten is in the file too
    assert reread.is_spent(b"session:signed-out") and reread.spend(b"burst:more", 9000.0, forgettable=True)
    assert reread.is_spent(b"session:signed-out")


def test_a_ledger_full_of_sessions_forgets_the_oldest_and_says_so(tmp_path, key, caplog):
    now = [1000.0]
    spent = ledger(tmp_path, key, now=now, limit=3)
    for n in range(4):
        assert spent.spend(f"session:{n}".encode(), 5000.0)
    assert not spent.is_spent(b"session:0") and spent.is_spent(b"session:3")
    assert "may be accepted again" in caplog.text


def test_a_damaged_ledger_is_set_aside_and_an_empty_one_begun(tmp_path, key, caplog):
    now = [1000.0]
    ledger(tmp_path, key, now=now).spend(b"session:a", 5000.0)
    blob = bytearray((tmp_path / FILE).read_bytes())
    blob[-3] ^= 0xFF
    (tmp_path / FILE).write_bytes(bytes(blob))
    spent = ledger(tmp_path, key, now=now)
    assert not spent.is_spent(b"session:a") and "altered" in caplog.text
    assert [p.name.split("-")[0] for p in tmp_path.iterdir() if "unreadable" in p.name] == [f"{FILE}.unreadable"]
    assert spent.spend(b"session:b", 5000.0) and ledger(tmp_path, key, now=now).is_spent(b"session:b")


def test_the_store_s_ledger_is_sealed_and_survives_a_key_rotation(tmp_path):
    with open_store(tmp_path) as store:
        assert store.spend(b"session:kept", 2e9)
        old = store.key
        path = store.data_dir / FILE
        assert path.read_bytes().startswith(b"FACESPT") and b"session:kept" not in path.read_bytes()
        store.rotate_key()
        assert store.key.key_id != old.key_id
    with open_store(tmp_path) as store:
        assert store.is_spent(b"session:kept") and store.spend(b"session:kept", 2e9) is False
        assert not [p for p in store.data_dir.iterdir() if "unreadable" in p.name]


def test_a_read_only_store_reads_the_ledger_but_cannot_spend(tmp_path):
    with open_store(tmp_path) as store:
        store.spend(b"session:x", 2e9)
    with open_store(tmp_path, read_only=True) as store:
        assert store.is_spent(b"session:x")
        with pytest.raises(PermissionError):
            store.spend(b"session:y", 2e9)
