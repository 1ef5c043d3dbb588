"""Several servers on one PostgreSQL store: what one writes the others see within a second, one enrollment
per face however many servers race, the database going away and coming back, and what the database
holds (sealed records only, bound to their places, a versioned schema)."""
import threading
import time

import numpy as np
import psycopg
import pytest

from recognition.matching.matcher import Matcher
from recognition.store.interface import StoreRejected, StoreUnavailable
from recognition.store.postgres import schema
from recognition.store.postgres.store import PostgresStore
from recognition.store.vault import KeyMissing
from tests.support.postgres_server import PostgresServer
from tests.conftest import wait_until as wait_for
from tests.test_store_contract import MODEL, near, unit

pytestmark = pytest.mark.postgres

SEEN_WITHIN = 1.0  # the promise: a change on one server reaches the others within a second


def open_server(url, folder, name, **options) -> PostgresStore:
    """One server's store: its own data dir for side files, the installation's shared key."""
    return PostgresStore(url, folder / name, folder / "keys" / "store.key", **options)


@pytest.fixture
def two(postgres, tmp_path):
    url = postgres.new_database()
    a, b = open_server(url, tmp_path, "a"), open_server(url, tmp_path, "b")
    yield a, b
    a.close()
    b.close()


def matcher(store) -> Matcher:
    return Matcher(store, MODEL, threshold=0.91)


def who(store, vector):
    match = matcher(store).identify(vector[np.newaxis, :])[0]
    return match.identity_hash if match else None


def seen_within(predicate, limit: float = SEEN_WITHIN) -> float:
    started = time.monotonic()
    assert wait_for(predicate, timeout=limit, interval=0.005), f"not seen within {limit} s"
    return time.monotonic() - started


def test_what_one_server_writes_the_other_sees_within_a_second(two):
    a, b = two
    ada = matcher(a).enroll(unit(1), "Ada", email_hash="a" * 64)
    seen_within(lambda: who(b, near(unit(1), 2)) == ada.hash)
    assert b.find_by_email_hash("a" * 64).hash == ada.hash and b.get(ada.hash).name == "Ada"
    b.rename(ada.hash, "Ada L.")
    seen_within(lambda: a.get(ada.hash).name == "Ada L.")
    other_side = near(unit(1), 5, noise=0.6)
    a.add_vectors(ada.hash, near(other_side, 6)[np.newaxis, :])
    seen_within(lambda: who(b, other_side) == ada.hash)
    look_alike = near(unit(1), 3, noise=0.3)
    b.add_rejection(ada.hash, look_alike)
    seen_within(lambda: who(a, look_alike) is None)
    snapshot = a.gallery(MODEL)
    b.remove(ada.hash)
    seen_within(lambda: who(a, unit(1)) is None and a.get(ada.hash) is None and len(a) == 0)
    assert matcher(a).nearest(snapshot, unit(1)[np.newaxis, :]) == [None]  # even a snapshot taken before
    assert a.find_by_email_hash("a" * 64) is None


def test_servers_racing_to_enroll_one_face_make_one_identity(postgres, tmp_path):
    url = postgres.new_database()
    servers = [open_server(url, tmp_path, f"s{n}") for n in range(3)]
    try:
        for face in range(5):  # five rounds: each time every server enrolls the same new face at once
            outcomes, start = [], threading.Barrier(len(servers) * 2)

            def enroll(store, seed):
                start.wait(10)
                outcomes.append(matcher(store).enroll_many(near(unit(100 + face), seed)[np.newaxis, :], [None])[0])

            threads = [threading.Thread(target=enroll, args=(store, seed)) for store in servers for seed in (1, 2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            created = [o.created.hash for o in outcomes if o.created]
            assert len(outcomes) == 6 and len(created) == 1
            assert {o.existing.identity_hash for o in outcomes if o.existing} == set(created)
        for store in servers:
            assert wait_for(lambda: len(store) == 5, timeout=SEEN_WITHIN)
    finally:
        for store in servers:
            store.close()


def test_an_email_taken_on_one_server_is_taken_on_all(two):
    from recognition.store.interface import EmailTaken

    a, b = two
    matcher(a).enroll(unit(1), "Ada", email_hash="e" * 64)
    with pytest.raises(EmailTaken):  # b has not even polled yet: the write catches up first
        matcher(b).enroll(unit(2), "Bo", email_hash="e" * 64)


def test_a_tag_spent_on_one_server_is_refused_by_the_others_even_when_they_race(postgres, tmp_path):
    url = postgres.new_database()
    servers = [open_server(url, tmp_path, f"s{n}") for n in range(3)]
    try:
        a, b, c = servers
        assert a.spend(b"challenge:seen", time.time() + 60)
        assert b.is_spent(b"challenge:seen") and c.spend(b"challenge:seen", time.time() + 60) is False
        for round_ in range(5):  # every server spends the same new tag at once: one of them wins
            outcomes, start = [], threading.Barrier(len(servers) * 2)

            def spend(store):
                start.wait(10)
                outcomes.append(store.spend(f"burst:{round_}".encode(), time.time() + 60))

            threads = [threading.Thread(target=spend, args=(s,)) for s in servers for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert sorted(outcomes) == [False] * 5 + [True]
    finally:
        for store in servers:
            store.close()


def test_expired_spent_tags_are_deleted_from_the_database(two):
    a, b = two
    a.spend(b"old", time.time() - 5)
    b.spend(b"new", time.time() + 60)  # b's first spend prunes what expired
    with psycopg.connect(a.url) as conn:
        assert conn.execute("SELECT count(*) FROM faceapp_spent").fetchone()[0] == 1


def test_a_new_server_loads_everything_and_the_database_holds_nothing_in_the_clear(postgres, tmp_path):
    url = postgres.new_database()
    with open_server(url, tmp_path, "a", chunk_identities=8) as a:
        for n in range(20):
            matcher(a).enroll(unit(n), f"person-{n}", email_hash=f"{n:064x}")
        a.remove(a.summaries()[3]["hash"])
        hashes = [s["hash"] for s in a.summaries()]
    with open_server(url, tmp_path, "c") as c:
        assert [s["hash"] for s in c.summaries()] == hashes
        assert who(c, near(unit(7), 1)) == hashes[6]
    with psycopg.connect(url) as conn:
        dump = b"".join(bytes(body) for (body,) in conn.execute("SELECT body FROM faceapp_records"))
        settings = b"".join(bytes(v) for (v,) in conn.execute("SELECT value FROM faceapp_settings"))
        chunks = conn.execute("SELECT count(DISTINCT chunk), count(*) FROM faceapp_records").fetchone()
    for n in range(20):
        assert f"person-{n}".encode() not in dump and f"{n:064x}".encode() not in dump
        assert unit(n).tobytes()[:16] not in dump
    assert hashes[0].encode() not in dump and c.secret not in settings
    assert chunks[0] == 3 and chunks[1] <= 3 + 4  # closed chunks are one record each


def test_a_server_without_the_key_or_with_another_is_refused_with_advice(postgres, tmp_path):
    url = postgres.new_database()
    open_server(url, tmp_path, "a").close()
    with pytest.raises(KeyMissing, match="copy the key file"):
        PostgresStore(url, tmp_path / "b", tmp_path / "other-keys" / "store.key", read_only=False)
    from recognition.store.vault import StoreKey

    StoreKey.generate().write(tmp_path / "wrong" / "store.key")
    with pytest.raises(Exception, match="key id"):
        PostgresStore(url, tmp_path / "b", tmp_path / "wrong" / "store.key")


def test_a_record_moved_or_altered_in_the_database_is_refused(postgres, tmp_path):
    url = postgres.new_database()
    with open_server(url, tmp_path, "a", chunk_identities=4) as a:
        for n in range(10):
            matcher(a).enroll(unit(n), f"p{n}")
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE faceapp_records SET chunk = chunk + 1 WHERE id = (SELECT min(id) FROM faceapp_records)")
    with pytest.raises(StoreRejected, match="moved or altered"):
        open_server(url, tmp_path, "b")


def test_the_schema_is_versioned_and_a_newer_one_is_refused(postgres, tmp_path):
    url = postgres.new_database()
    open_server(url, tmp_path, "a").close()
    with psycopg.connect(url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM faceapp_schema ORDER BY version")]
        assert versions == [m[0] for m in schema.MIGRATIONS]
        conn.execute("INSERT INTO faceapp_schema (version, description) VALUES (%s, 'from the future')",
                     (schema.LATEST + 1,))
    with pytest.raises(StoreRejected, match="newer release"):
        open_server(url, tmp_path, "a")


def test_a_server_that_missed_pruned_changes_reloads_everything(two):
    a, b = two
    b._follower.stop(5)  # b hears nothing while a writes and the log is pruned
    b._follower = None
    ada = matcher(a).enroll(unit(1), "Ada")
    with psycopg.connect(a.url) as conn:
        conn.execute("DELETE FROM faceapp_changes")
    matcher(a).enroll(unit(2), "Bo")  # the next write: b's catch-up finds a gap, and reloads
    assert who(b, unit(1)) is None
    matcher(b).enroll(unit(3), "Cy")
    assert who(b, unit(1)) == ada.hash and len(b) == 3


def test_the_database_going_away_stops_writes_not_recognition(tmp_path):
    server = PostgresServer().start()  # a server of its own: it is stopped and started again
    try:
        url = server.new_database()
        a, b = open_server(url, tmp_path, "a"), open_server(url, tmp_path, "b")
        ada = matcher(a).enroll(unit(1), "Ada")
        assert wait_for(lambda: who(b, unit(1)) == ada.hash, timeout=SEEN_WITHIN)
        server.stop()
        assert who(a, near(unit(1), 4)) == ada.hash and who(b, near(unit(1), 4)) == ada.hash
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            matcher(a).enroll(unit(2), "Bo")
        assert time.monotonic() - started < 10  # every wait has a timeout
        with pytest.raises(StoreUnavailable):
            b.rename(ada.hash, "x")
        with pytest.raises(StoreUnavailable, match="cannot be reached"):  # a challenge cannot be redeemed
            a.spend(b"challenge:while-away", time.time() + 60)
        with pytest.raises(StoreUnavailable):  # nor a session checked against the revoked ones
            b.is_spent(b"session:while-away")
        assert a.get(ada.hash).name == "Ada" and len(a) == 1
        server.start()
        bo = matcher(a).enroll(unit(2), "Bo")  # a reconnects by itself on the next write
        assert wait_for(lambda: who(b, unit(2)) == bo.hash, timeout=10)  # b's follower, reconnected
        b.remove(ada.hash)
        assert wait_for(lambda: who(a, unit(1)) is None, timeout=SEEN_WITHIN)
        assert a.spend(b"challenge:while-away", time.time() + 60) and b.is_spent(b"challenge:while-away")
        a.close()
        b.close()
    finally:
        server.remove()


def test_a_write_held_up_by_a_stuck_one_gives_up_in_seconds_and_changes_nothing(two):
    """Another client holds the store's write lock (a write hung mid-way): a write waits its lock timeout,
    then answers that the store is busy, and the next write after the lock is freed succeeds."""
    a, _ = two
    with psycopg.connect(a.url) as stuck:
        stuck.execute("SELECT seq FROM faceapp_head FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="busy"):
            matcher(a).enroll(unit(1), "Ada")
        assert time.monotonic() - started < 15 and len(a) == 0
    assert matcher(a).enroll(unit(1), "Ada").name == "Ada"
