"""Matching a large gallery through its approximate index: the same people as exact search for faces
near the threshold, nobody for strangers, and a removed person, a newcomer or "not this person"
handled exactly as without the index."""
import numpy as np
import pytest

from recognition.matching.matcher import Matcher
from recognition.matching.search import candidates
from recognition.store.gallery import GalleryTable
from recognition.store.identity import Identity
from tests.conftest import open_store, wait_until

DIMS, THRESHOLD = 128, 0.93  # Dlib's threshold: the hardest faces are the ones just above it


def unit_rows(rng, count: int) -> np.ndarray:
    rows = rng.normal(size=(count, DIMS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def sightings(rng, rows: np.ndarray, low: float = 0.935, high: float = 0.99) -> np.ndarray:
    """Other sightings of these faces: each turned away from its row to a similarity in [low, high]."""
    away = unit_rows(rng, len(rows))
    away -= (away * rows).sum(axis=1, keepdims=True) * rows
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    similarity = rng.uniform(low, high, len(rows))[:, np.newaxis]
    return (similarity * rows + np.sqrt(1 - similarity ** 2) * away).astype(np.float32)


def best(found: dict):
    return max(found, key=found.get) if found else None


@pytest.fixture(scope="module")
def table():
    """20,000 people (every tenth with a second vector), indexed from 5,000 rows on."""
    rng = np.random.default_rng(11)
    people = 20_000
    counts = np.where(np.arange(people) % 10 == 0, 2, 1)
    vectors = unit_rows(rng, int(counts.sum()))
    table = GalleryTable(DIMS, approximate_from=5_000)
    table.add_bulk([f"{n:064x}" for n in range(people)], [None] * people, vectors, counts,
                   np.zeros((0, DIMS), np.float32), np.zeros(people, np.int64))
    gallery = table.publish()
    assert gallery.approximate.ready is None  # building in the background: matching is exact meanwhile
    before = sightings(rng, vectors[:50])
    assert [best(f) for f in candidates(gallery, before, THRESHOLD)] == \
           [best(f) for f in candidates(gallery, before, THRESHOLD, approximate=False)]
    assert wait_until(lambda: gallery.approximate.ready, timeout=60)
    return table, vectors


def test_faces_near_the_threshold_find_the_same_person_as_exact_search(table):
    table, vectors = table
    gallery, rng = table.publish(), np.random.default_rng(5)
    assert gallery.approximate.ready is not None and gallery.approximate.ready.rows == len(vectors)
    rows = rng.integers(0, len(vectors), 2000)
    queries = sightings(rng, vectors[rows])
    exact = [best(f) for f in candidates(gallery, queries, THRESHOLD, approximate=False)]
    indexed = [best(f) for f in candidates(gallery, queries, THRESHOLD)]
    assert all(e is not None for e in exact)  # every one of them is someone
    recall = np.mean([i == e for i, e in zip(indexed, exact)])
    assert recall >= 0.99, f"the index found {recall:.4f} of the people exact search found"
    strangers = unit_rows(rng, 500)
    assert all(not f for f in candidates(gallery, strangers, THRESHOLD))


def test_a_removed_person_stops_matching_though_the_index_still_holds_their_rows(table):
    table, vectors = table
    before = table.publish()
    index_before, gone, kept = before.approximate.ready, int(before.owners[7]), int(before.owners[9])
    table.remove(gone)
    gallery = table.publish()
    assert gallery.approximate.ready is index_before  # not rebuilt: the exact scores drop the zeroed rows
    assert candidates(gallery, vectors[7:8], THRESHOLD) == [{}]
    assert candidates(before, vectors[7:8], THRESHOLD) == [{}]  # nor in a snapshot taken before
    assert best(candidates(gallery, vectors[9:10], THRESHOLD)[0]) == kept


def test_people_added_after_the_build_and_rejections_are_matched_exactly(table):
    table, vectors = table
    rng = np.random.default_rng(9)
    newcomers = unit_rows(rng, 100)
    first = table.add_bulk([f"{n:064x}" for n in range(10**6, 10**6 + 100)], [None] * 100, newcomers,
                           np.ones(100, np.int64), np.zeros((0, DIMS), np.float32), np.zeros(100, np.int64))
    gallery = table.publish()
    assert gallery.approximate.ready.rows < len(gallery.vectors)  # the newcomers are the exact tail
    found = candidates(gallery, sightings(rng, newcomers), THRESHOLD)
    assert [best(f) for f in found] == list(range(first, first + 100))
    look_alike = sightings(rng, vectors[12:13], 0.94, 0.94)[0]
    owner = int(gallery.owners[12])
    assert best(candidates(gallery, look_alike[np.newaxis, :], THRESHOLD)[0]) == owner
    table.add_rejection(owner, look_alike)
    gallery = table.publish()
    assert candidates(gallery, look_alike[np.newaxis, :], THRESHOLD) == [{}]  # closer to "not them"
    assert best(candidates(gallery, vectors[12:13], THRESHOLD)[0]) == owner


def test_a_large_store_matches_through_its_index(tmp_path):
    """The store's own galleries: 60,000 people, past the default size an index is built from."""
    rng = np.random.default_rng(3)
    vectors = unit_rows(rng, 60_000)
    with open_store(tmp_path) as store:
        store.add_many([Identity(hash=f"{n:064x}", model="Dlib", embeddings=[vectors[n]]) for n in range(60_000)])
        assert wait_until(lambda: store.gallery("Dlib").approximate.ready, timeout=120)
        matcher = Matcher(store, "Dlib")
        rows = rng.integers(0, 60_000, 200)
        matches = matcher.identify(sightings(rng, vectors[rows], 0.95, 0.99))  # above every person's bar
        assert [m.identity_hash if m else None for m in matches] == [f"{n:064x}" for n in rows]
        assert matcher.identify(unit_rows(rng, 20)) == [None] * 20
