"""What every store backend promises, whatever it keeps its data in. A new backend adds itself to
BACKENDS and must pass every test here."""
import threading
import time

import numpy as np
import pytest

from recognition.matching.matcher import Matcher
from recognition.store.identity import Identity
from recognition.store.interface import EmailTaken
from tests.conftest import open_store, wait_until

MODEL = "Dlib"


def unit(seed: int, dims: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, seed: int, noise: float = 0.02) -> np.ndarray:
    """Another sighting of the same face: a little noise, still far above any threshold."""
    moved = vector + noise * unit(seed, len(vector))
    return (moved / np.linalg.norm(moved)).astype(np.float32)


class PickleBackend:
    name = "pickle"

    def __init__(self, folder) -> None:
        self.folder = folder

    def open(self):
        return open_store(self.folder, segment_identities=8)  # small segments: rollovers happen in tests


class PostgresBackend:
    """A database of its own on the test run's PostgreSQL server; this server's side files in folder."""

    name = "postgresql"

    def __init__(self, folder, server) -> None:
        self.folder = folder
        self.url = server.new_database()

    def open(self):
        from recognition.store.postgres.store import PostgresStore

        return PostgresStore(self.url, self.folder / "db", self.folder / "keys" / "store.key",
                             chunk_identities=8)  # small chunks: rollovers happen in tests


BACKENDS = [PickleBackend, pytest.param(PostgresBackend, marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS, ids=lambda backend: backend.name)
def backend(request, tmp_path):
    if request.param is PostgresBackend:
        return PostgresBackend(tmp_path, request.getfixturevalue("postgres"))
    return request.param(tmp_path)


@pytest.fixture
def store(backend):
    opened = backend.open()
    yield opened
    opened.close()


def matcher(store) -> Matcher:
    return Matcher(store, MODEL, threshold=0.91)


def test_enrolled_identities_survive_a_restart(backend):
    with backend.open() as store:
        ada = matcher(store).enroll(unit(1), "Ada", email_hash="e" * 64)
        bo = matcher(store).enroll(unit(2), "Bo")
        secret = store.secret
    with backend.open() as store:
        assert [s["hash"] for s in store.summaries()] == [ada.hash, bo.hash]
        assert store.get(ada.hash).name == "Ada" and np.allclose(store.get(ada.hash).embeddings[0], unit(1))
        assert store.find_by_email_hash("e" * 64).hash == ada.hash
        assert store.secret == secret and len(store) == 2
        assert matcher(store).identify(near(unit(2), 9)[np.newaxis, :])[0].identity_hash == bo.hash


def test_enroll_is_refused_for_a_face_already_stored_or_earlier_in_the_batch(store):
    first = matcher(store).enroll(unit(1), "Ada")
    queries = np.stack([near(unit(1), 5), unit(2), near(unit(2), 6), unit(3)])
    outcomes = matcher(store).enroll_many(queries, ["again", "Bo", "Bo again", "Cy"])
    assert outcomes[0].existing.identity_hash == first.hash and outcomes[0].created is None
    assert outcomes[1].created.name == "Bo"
    assert outcomes[2].existing.identity_hash == outcomes[1].created.hash  # a duplicate within one call
    assert outcomes[3].created.name == "Cy"
    assert len(store) == 3


def test_enrolling_the_same_face_from_many_threads_makes_one_identity(store):
    results, errors = [], []

    def enroll(seed: int) -> None:
        try:
            results.append(matcher(store).enroll_many(near(unit(42), seed)[np.newaxis, :], [None])[0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enroll, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sum(1 for outcome in results if outcome.created) == 1 and len(results) == 8
    assert len(store) == 1


def test_an_email_is_bound_to_one_identity_only(store):
    matcher(store).enroll(unit(1), "Ada", email_hash="a" * 64)
    with pytest.raises(EmailTaken):
        matcher(store).enroll(unit(2), "Bo", email_hash="a" * 64)
    assert len(store) == 1 and store.find_by_email_hash("a" * 64).name == "Ada"


def test_attributes_at_registration_are_kept_through_changes(backend):
    with backend.open() as store:
        ada = matcher(store).enroll(unit(1), "Ada", attributes='{"gender":{"value":"female"}}')
        bo = matcher(store).enroll(unit(2), "Bo")
        store.rename(bo.hash, "Bo B.")  # rewrites the segment Ada shares
    with backend.open() as store:
        assert store.get(ada.hash).attributes == '{"gender":{"value":"female"}}'
        assert store.get(bo.hash).attributes is None


def test_more_vectors_for_a_person_match_what_one_alone_missed(backend):
    with backend.open() as store:
        ada = matcher(store).enroll(unit(1), "Ada")
        other_side = near(unit(1), 5, noise=0.6)  # Ada from another angle: too far from her one vector
        assert matcher(store).identify(other_side[np.newaxis, :]) == [None]
        second = near(other_side, 6)
        assert len(store.add_vectors(ada.hash, second[np.newaxis, :]).embeddings) == 2
        assert matcher(store).identify(other_side[np.newaxis, :])[0].identity_hash == ada.hash
        with pytest.raises(KeyError):
            store.add_vectors("f" * 64, second[np.newaxis, :])
    with backend.open() as store:
        assert len(store.get(ada.hash).embeddings) == 2 and store.summaries()[0]["vectors"] == 2
        assert matcher(store).identify(other_side[np.newaxis, :])[0].identity_hash == ada.hash


def test_rename_reject_and_remove(backend):
    with backend.open() as store:
        ada = matcher(store).enroll(unit(1), "Ada")
        bo = matcher(store).enroll(unit(2), "Bo")
        assert store.rename(ada.hash, "Ada L.").name == "Ada L."
        look_alike = near(unit(1), 3, noise=0.3)
        assert matcher(store).identify(look_alike[np.newaxis, :])[0].identity_hash == ada.hash
        store.add_rejection(ada.hash, look_alike)
        assert matcher(store).identify(look_alike[np.newaxis, :]) == [None]  # no longer matched to Ada
        assert matcher(store).identify(unit(1)[np.newaxis, :])[0].identity_hash == ada.hash
        removed = store.remove(bo.hash)
        assert removed.hash == bo.hash and np.allclose(removed.embeddings[0], unit(2))
        for change in (lambda: store.remove(bo.hash), lambda: store.rename(bo.hash, "x"),
                       lambda: store.add_rejection(bo.hash, unit(2))):
            with pytest.raises(KeyError):
                change()
    with backend.open() as store:
        assert [(s["hash"], s["name"]) for s in store.summaries()] == [(ada.hash, "Ada L.")]
        assert len(store.get(ada.hash).rejections) == 1
        assert matcher(store).identify(look_alike[np.newaxis, :]) == [None]
        assert store.get(bo.hash) is None and matcher(store).identify(unit(2)[np.newaxis, :]) == [None]


def test_a_removed_identity_stops_matching_even_in_a_snapshot_taken_before(store):
    ada = matcher(store).enroll(unit(1), "Ada")
    before = store.gallery(MODEL)
    store.remove(ada.hash)
    assert matcher(store).nearest(before, unit(1)[np.newaxis, :]) == [None]


def test_a_snapshot_does_not_change_when_people_are_enrolled_after_it(store):
    matcher(store).enroll(unit(1), "Ada")
    before = store.gallery(MODEL)
    store.add_many([Identity(hash=f"{n:064x}", model=MODEL, embeddings=[unit(n)]) for n in range(2, 600)])
    for seed in range(600, 620):  # past the tables' first capacity, and segments rolled over
        matcher(store).enroll(unit(seed))
    assert len(before.vectors) == 1 and np.allclose(before.vectors[0], unit(1))
    assert len(store.gallery(MODEL).vectors) == 619


def test_readers_never_wait_for_a_writer(store):
    """A writer held up inside enroll (its duplicate check blocks) does not hold up matching or listing."""
    ada = matcher(store).enroll(unit(1), "Ada")
    inside, release = threading.Event(), threading.Event()

    def slow_check(gallery, queries):
        inside.set()
        release.wait(30)
        return [None] * len(queries)

    from recognition.store.interface import Candidate

    writer = threading.Thread(target=store.enroll, args=(MODEL, [Candidate("b" * 64, unit(2), "Bo")], slow_check))
    writer.start()
    try:
        assert inside.wait(10)
        answers = {}
        reader = threading.Thread(target=lambda: answers.update(
            match=matcher(store).identify(unit(1)[np.newaxis, :])[0], listed=store.summaries(),
            got=store.get(ada.hash), count=len(store)))
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "a reader waited for the writer"
        assert answers["match"].identity_hash == ada.hash and answers["got"].name == "Ada"
        assert [s["name"] for s in answers["listed"]] == ["Ada"] and answers["count"] == 1
    finally:
        release.set()
        writer.join(30)
    assert wait_until(lambda: len(store) == 2, timeout=5)


def test_add_many_keeps_identities_as_they_are_and_refuses_duplicates(backend):
    people = [Identity(hash=f"{n:064x}", model=MODEL, embeddings=[unit(n), unit(n + 100)], name=f"p{n}",
                       created=float(n), rejections=[unit(n + 200)]) for n in range(1, 21)]
    with backend.open() as store:
        store.add_many(people)
        with pytest.raises(ValueError):
            store.add_many([people[3]])
    with backend.open() as store:
        assert [i.hash for i in store.identities()] == [p.hash for p in people]
        stored = store.get(people[7].hash)
        assert stored.created == 8.0 and len(stored.embeddings) == 2 and len(stored.rejections) == 1
        assert np.allclose(stored.embeddings[1], unit(108))


def test_galleries_are_per_model(store):
    matcher(store).enroll(unit(1), "Ada")
    facenet = Matcher(store, "Facenet", threshold=0.6)
    assert facenet.identify(unit(1)[np.newaxis, :]) == [None]
    assert store.gallery("Facenet").empty and not store.gallery(MODEL).empty


# -- the spent ledger: one-time tags (challenge nonces, burst digests, revoked sessions) ----------------
def test_a_tag_is_spent_once_and_refused_after(store):
    until = time.time() + 600
    assert not store.is_spent(b"challenge:n1")
    assert store.spend(b"challenge:n1", until) is True
    assert store.is_spent(b"challenge:n1")
    assert store.spend(b"challenge:n1", until) is False  # refused, however many times it comes back
    assert store.spend(b"challenge:n1", until + 600) is False
    assert not store.is_spent(b"challenge:n2") and store.spend(b"challenge:n2", until) is True


def test_a_spent_tag_survives_closing_and_reopening(backend):
    with backend.open() as store:
        assert store.spend(b"session:s1", time.time() + 600)
    with backend.open() as store:
        assert store.is_spent(b"session:s1")
        assert store.spend(b"session:s1", time.time() + 600) is False


def test_a_tag_counts_only_until_it_expires(backend):
    with backend.open() as store:
        assert store.spend(b"burst:old", time.time() - 1)  # its time is over as soon as it is written
        assert not store.is_spent(b"burst:old")
        assert store.spend(b"burst:old", time.time() + 600)  # an expired tag may be spent again ...
        assert store.spend(b"burst:old", time.time() + 600) is False  # ... once
    with backend.open() as store:
        assert store.is_spent(b"burst:old")


def test_one_tag_spent_from_many_threads_at_once_is_spent_exactly_once(store):
    outcomes, start = [], threading.Barrier(8)

    def spend():
        start.wait(10)
        outcomes.append(store.spend(b"challenge:raced", time.time() + 600))

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [False] * 7 + [True]


def test_the_store_keeps_tags_as_keyed_hashes_not_as_sent(backend):
    tag = b"session:" + b"k7Qp2vXy9Lm3Ns8Rt1Uw"
    with backend.open() as store:
        store.spend(tag, time.time() + 600)
        if backend.name == "pickle":  # the ledger as it is once unsealed: the hashing, not the sealing, hides it
            from recognition.store import spent
            from recognition.store.vault import unseal

            path = store.data_dir / spent.FILE
            kept = unseal([store.key], spent.MAGIC, path.read_bytes(), str(path))
        else:
            import psycopg

            with psycopg.connect(backend.url) as conn:
                kept = b"".join(bytes(t) for (t,) in conn.execute("SELECT tag FROM faceapp_spent"))
    assert b"k7Qp2vXy9Lm3Ns8Rt1Uw" not in kept and len(kept) > 0
