"""Servers on one PostgreSQL store index a shared album together: each file claimed once, indexed once,
searched by every server; a killed server's claim taken over; rows sealed and bound to their place."""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import psycopg
import pytest

from recognition.album.index import AlbumIndex, PhotoEntry
from recognition.album.library import AlbumLibrary
from recognition.album.shared_index import SharedAlbumIndex, open_shared_index
from recognition.store.postgres.store import PostgresStore
from tests.conftest import ROOT, fixture_path, load_photo, wait_until, write_clip

pytestmark = pytest.mark.postgres

PEOPLE = {"obama": ["obama1.jpg", "obama2.jpg", "obama4.jpg"], "biden": ["biden1.jpg"],
          "kit_harington": ["kit1.jpg", "kit2.jpg", "kit3.jpg"], "rose_leslie": ["rose1.jpg"]}
FILES = sum(len(photos) for photos in PEOPLE.values()) + 3  # and a group photo, a video, and a broken file
CLAIM_SECONDS = 2.0  # a killed server's files wait this long for another


def make_album(folder):
    for person, photos in PEOPLE.items():
        (folder / person).mkdir(parents=True, exist_ok=True)
        for photo in photos:
            shutil.copyfile(fixture_path(f"faces/{person}/{photo}"), folder / person / photo)
    (folder / "group").mkdir()
    shutil.copyfile(fixture_path("faces/group/obama_and_biden.jpg"), folder / "group" / "obama_and_biden.jpg")
    (folder / "group" / "broken.jpg").write_bytes(b"not a photo")
    write_clip(folder / "clip.avi", ["kit_harington/kit1.jpg"], seconds_each=1.5, fps=10)  # claimed like a photo
    return folder


def open_server(url, tmp_path, name) -> PostgresStore:
    return PostgresStore(url, tmp_path / name, tmp_path / "keys" / "store.key")


def album_rows(url):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT path_tag, state, claims, finishes, done_by, skip_reason, body "
                            "FROM faceapp_album_files WHERE state <> 'gone'").fetchall()


def query(analyzer, photo):
    return analyzer.analyze(load_photo(photo))[0].embedding[np.newaxis, :]


@pytest.fixture
def database(postgres, tmp_path):
    url = postgres.new_database()
    stores = []

    def server(name):
        stores.append(open_server(url, tmp_path, name))
        return stores[-1]

    yield url, server
    for store in stores:
        store.close()


def test_two_servers_index_one_album_each_file_once_and_both_search_all_of_it(database, tmp_path, analyzer):
    url, server = database
    # The same shared folder, mounted at another path on each server: known by its name, not its path.
    album = make_album(tmp_path / "mount-a" / "Family")
    shutil.copytree(album, tmp_path / "mount-b" / "Family", copy_function=shutil.copy2)  # same sizes and mtimes
    libraries = [AlbumLibrary.for_server([tmp_path / f"mount-{name}" / "Family"], server(name), analyzer,
                                         claim_timeout=CLAIM_SECONDS) for name in "ab"]
    try:
        for library in libraries:
            library.start()
        assert wait_until(lambda: all(lib.progress.state == "ready" for lib in libraries), timeout=180)
        rows = album_rows(url)
        assert len(rows) == FILES and all(claims == finishes == 1 for _, _, claims, finishes, *_ in rows)
        done = [library._indexer.indexed for library in libraries]
        assert sorted(done[0] + done[1]) == sorted({*done[0], *done[1]}) and len(done[0] + done[1]) == FILES
        assert sum(library.progress.read for library in libraries) == FILES - 1  # each photo read once, in all
        assert {state for _, state, *_ in rows} == {"done", "skipped"}
        photos = FILES - 1
        for library in libraries:  # each searches the whole album, whoever indexed a photo
            assert wait_until(lambda: len(library._indexes["Family"].entries) == photos, timeout=5)
            progress = library.progress.to_json()
            assert progress["total"] == progress["done"] == FILES and progress["photos"] == photos
            assert sum(progress["by_server"].values()) == FILES and progress["skipped_by_reason"] == {"unreadable": 1}
            found = {match.photo for match in library.search(query(analyzer, "obama/obama3.jpg"), 0.91)}
            assert {"obama/obama1.jpg", "obama/obama2.jpg", "group/obama_and_biden.jpg"} <= found
            assert not any(photo.startswith(("kit_harington", "rose_leslie")) or photo == "clip.avi" for photo in found)
            kit = library.search(query(analyzer, "kit_harington/kit1.jpg"), 0.91)
            video = [m for m in kit if m.photo == "clip.avi"]
            assert len(video) == 1 and video[0].appearances[0].start <= 1.5
            people, _ = library.people(0.91)
            assert len(people) >= 2
    finally:
        for library in libraries:
            library.stop()


def test_a_killed_server_loses_its_claim_and_another_indexes_the_album_each_file_once(database, tmp_path,
                                                                                     analyzer):
    url, server = database
    server("setup")  # the installation's key and secret, made once
    album = make_album(tmp_path / "share" / "Family")
    marker = tmp_path / "claimed.json"
    claimer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.album_claimer", url, str(tmp_path / "killed"),
         str(tmp_path / "keys" / "store.key"), str(album), str(marker), str(CLAIM_SECONDS)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: marker.exists() or claimer.poll() is not None, timeout=90), "never claimed"
        assert marker.exists(), claimer.communicate(timeout=10)[1].decode()[-2000:]
        claimed = json.loads(marker.read_text())
        assert len(claimed["paths"]) == 1

        def deadline():
            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute("SELECT claim_until FROM faceapp_album_files WHERE claimed_by = %s",
                                    (claimed["server"],)).fetchone()[0]

        first = deadline()
        assert wait_until(lambda: deadline() > first, timeout=10)  # alive and working: its claim is pushed ahead
    finally:
        claimer.send_signal(signal.SIGKILL)
        claimer.wait(10)
    library = AlbumLibrary.for_server([album], server("survivor"), analyzer, claim_timeout=CLAIM_SECONDS).start()
    try:
        assert wait_until(lambda: library.progress.state == "ready", timeout=180)
        rows = album_rows(url)
        assert len(rows) == FILES and all(finishes == 1 for _, _, _, finishes, *_ in rows)
        assert {done_by for *_, done_by, _, _ in rows} == {library._indexer.server_id}
        index = library._indexes["Family"]
        taken_over = [claims for tag, _, claims, *_ in rows if tag == index.tag(claimed["paths"][0])]
        assert taken_over == [2]  # claimed by the killed server, then by this one once its claim ran out
        assert sorted(library._indexer.indexed) == sorted([*index.entries, "group/broken.jpg"])
        assert claimed["paths"][0] in index.entries and len(index.entries) == FILES - 1
    finally:
        library.stop()


def entry(path: str, seed: int) -> PhotoEntry:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(1, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return PhotoEntry(path, 1000, 10**18, f"{seed:064x}", 800, 600, np.array([[0.1, 0.1, 0.2, 0.2]], np.float32),
                      vectors)


def indexed_by_hand(store, name, paths) -> SharedAlbumIndex:
    """An album's rows recorded, claimed and finished through the table, as an indexer does, without a model."""
    index = open_shared_index(store.album_files(), store.key, store.secret, name, "Dlib|haar-1280|1280")
    rows = store.album_files()
    rows.sync(index.album, [(index.tag(path), 1000, 10**18, index.seal_row(path)) for path in paths])
    claimed = rows.claim(index.album, "by-hand", len(paths), 60)
    assert len(claimed) == len(paths)
    for number, path in enumerate(paths):
        assert rows.finish(index.album, index.tag(path), "by-hand", index.seal_row(path, entry(path, number)))
    rows.close()
    index.refresh()
    return index


def test_a_sealed_row_copied_to_another_file_or_album_is_refused_and_nothing_is_in_the_clear(database):
    url, server = database
    store = server("a")
    index = indexed_by_hand(store, "Family", ["holiday/beach-with-grandma.jpg", "b.jpg"])
    assert sorted(index.entries) == ["b.jpg", "holiday/beach-with-grandma.jpg"]
    other = indexed_by_hand(store, "Work", ["c.jpg"])
    with psycopg.connect(url, autocommit=True) as conn:
        everything = b"".join(bytes(v) for row in conn.execute("SELECT * FROM faceapp_album_files").fetchall()
                              for v in row if isinstance(v, (bytes, memoryview)))
        assert b"grandma" not in everything and b"Family" not in everything
        assert index.entries["b.jpg"].vectors.tobytes()[:32] not in everything
        grandma, b = index.tag("holiday/beach-with-grandma.jpg"), index.tag("b.jpg")
        # b's row made to hold grandma's sealed entry; Work's row too: each is another row than it was sealed for
        for album, tag in ((index.album, b), (other.album, other.tag("c.jpg"))):
            conn.execute("UPDATE faceapp_album_files SET body = (SELECT body FROM faceapp_album_files WHERE album = %s "
                         "AND path_tag = %s), change = nextval('faceapp_album_changes') WHERE album = %s AND "
                         "path_tag = %s", (index.album, grandma, album, tag))
    index.refresh()
    other.refresh()
    assert sorted(index.entries) == ["holiday/beach-with-grandma.jpg"] and index.refused == 1
    assert other.entries == {} and other.refused == 1
    fresh = open_shared_index(store.album_files(), store.key, store.secret, "Family", "Dlib|haar-1280|1280")
    assert sorted(fresh.entries) == ["holiday/beach-with-grandma.jpg"]  # a server starting now refuses it too
    for opened in (index, other, fresh):
        opened.close()


def test_claims_are_exclusive_a_lapsed_claim_is_taken_and_its_late_result_refused(database):
    _, server = database
    store = server("a")
    index = open_shared_index(store.album_files(), store.key, store.secret, "Family", "Dlib|haar-1280|1280")
    a, b = store.album_files(), store.album_files()
    paths = [f"{n}.jpg" for n in range(6)]
    a.sync(index.album, [(index.tag(path), 1, 1, index.seal_row(path)) for path in paths])
    first, second = a.claim(index.album, "a", 3, 60), b.claim(index.album, "b", 10, 60)
    assert len(first) == 3 and len(second) == 3 and not {r.tag for r in first} & {r.tag for r in second}
    assert b.claim(index.album, "b", 10, 60) == []  # all taken, none lapsed
    lapsing = a.claim  # a claim of a's that a stops pushing ahead (its server died)
    assert a.finish(index.album, first[0].tag, "a", index.seal_row(paths[0]), skip_reason="unreadable")
    b.release(index.album, second[0].tag, "b")
    again = lapsing(index.album, "a", 1, 0.2)
    assert [row.tag for row in again] == [second[0].tag]
    taken = wait_until(lambda: b.claim(index.album, "b", 10, 60), timeout=10)  # once the deadline passed
    assert [row.tag for row in taken] == [second[0].tag]
    assert not a.finish(index.album, second[0].tag, "a", index.seal_row("x.jpg"))  # a's late result: refused
    counts = a.counts(index.album, "a")
    assert counts.states == {"claimed": 5, "skipped": 1} and counts.claimed_elsewhere == 3
    for table in (a, b, index):
        table.close()


def test_a_walk_lacking_most_of_the_album_removes_nothing_nor_a_file_another_server_works_on(database):
    """A mount half there (a sync still copying) is not half the album deleted; a file another server has
    claimed is not gone because this walk missed it."""
    _, server = database
    store = server("a")
    index = open_shared_index(store.album_files(), store.key, store.secret, "Family", "Dlib|haar-1280|1280")
    rows = store.album_files()
    paths = [f"{n:02d}.jpg" for n in range(30)]
    files = {path: (index.tag(path), 1, 1, index.seal_row(path)) for path in paths}
    rows.sync(index.album, list(files.values()))
    walked = rows.now()
    rows.sync(index.album, [files[path] for path in paths[:2]])  # a walk that saw 2 of 30
    assert rows.mark_gone(index.album, walked) == -28 and rows.counts(index.album, "a").states == {"pending": 30}
    other = store.album_files()
    claimed = other.claim(index.album, "b", 1, 60)[0].tag
    walked = rows.now()
    kept = [f for f in files.values() if f[0] != claimed][:-5]  # five files deleted; one claimed by b, unseen
    rows.sync(index.album, kept)
    assert rows.mark_gone(index.album, walked) == 5
    assert rows.counts(index.album, "a").states == {"pending": 24, "claimed": 1, "gone": 5}
    for table in (rows, other, index):
        table.close()


def test_a_walk_that_shows_nothing_removes_nothing_and_a_whole_walk_removes_what_left(database, tmp_path, analyzer):
    _, server = database
    store = server("a")
    album = tmp_path / "Family"
    album.mkdir()
    shutil.copyfile(fixture_path("faces/obama/obama1.jpg"), album / "obama1.jpg")
    shutil.copyfile(fixture_path("faces/biden/biden1.jpg"), album / "biden1.jpg")
    library = AlbumLibrary.for_server([album], store, analyzer, claim_timeout=CLAIM_SECONDS)
    run = library._indexer.index
    shared = library._indexes["Family"]
    assert run([(album, shared)]).state == "ready" and sorted(shared.entries) == ["biden1.jpg", "obama1.jpg"]
    emptied = tmp_path / "unmounted" / "Family"
    emptied.mkdir(parents=True)
    assert run([(emptied, shared)]).state == "ready"
    assert sorted(shared.entries) == ["biden1.jpg", "obama1.jpg"]  # an empty mount is not an emptied album
    (album / "biden1.jpg").unlink()
    progress = run([(album, shared)])
    assert sorted(shared.entries) == ["obama1.jpg"] and progress.total == progress.done == 1 and progress.read == 0
    library.stop()


def test_with_the_file_store_an_album_index_is_a_file_in_the_data_dir(store, tmp_path, analyzer):
    album = tmp_path / "Family"
    album.mkdir()
    library = AlbumLibrary.for_server([album], store, analyzer)
    try:
        assert isinstance(library._indexes["Family"], AlbumIndex) and library._follower is None
    finally:
        library.stop()
