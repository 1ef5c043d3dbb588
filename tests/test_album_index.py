"""The album index on disk: what was put is there after a restart, sealed, chained, and a torn write
loses only itself."""
import secrets

import numpy as np
import pytest

from recognition.album.index import AlbumIndex, IndexDamaged, PhotoEntry, index_id, open_album_index
from recognition.store import segments
from recognition.store.vault import StoreKey

SETTINGS = "Dlib|haar|1280"


@pytest.fixture
def sealing(tmp_path):
    return StoreKey.generate().write(tmp_path / "keys" / "store.key"), secrets.token_bytes(32)


def open_index(folder, sealing, settings=SETTINGS):
    key, secret = sealing
    return AlbumIndex.open(folder, key, secret, settings)


def entry(path: str, faces: int, seed: int) -> PhotoEntry:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(faces, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    boxes = rng.uniform(0, 0.5, size=(faces, 4)).astype(np.float32)
    return PhotoEntry(path, 1000 + seed, 10**18 + seed, f"{seed:064x}", 800, 600, boxes, vectors)


def same(first: PhotoEntry, second: PhotoEntry) -> bool:
    return (first.path, first.size, first.mtime_ns, first.digest, first.width, first.height) == (
        second.path, second.size, second.mtime_ns, second.digest, second.width, second.height) and \
        np.array_equal(first.boxes, second.boxes) and np.array_equal(first.vectors, second.vectors)


def test_what_is_put_and_dropped_is_there_after_a_restart(tmp_path, sealing):
    folder = tmp_path / "data" / "albums" / index_id(tmp_path / "album", SETTINGS)
    index = open_index(folder, sealing)
    photos = [entry("a.jpg", 2, 1), entry("2024/b.jpg", 0, 2), entry("2024/c.heic", 1, 3)]
    index.put(photos[:2])
    index.put(photos[2:])
    index.put([entry("a.jpg", 1, 4)])  # a.jpg changed: the later record wins
    index.drop(["2024/b.jpg", "never-there.jpg"])
    index.close()
    reopened = open_index(folder, sealing)
    assert sorted(reopened.entries) == ["2024/c.heic", "a.jpg"]
    assert same(reopened.entries["a.jpg"], entry("a.jpg", 1, 4)) and same(reopened.entries["2024/c.heic"], photos[2])
    assert reopened.entries["a.jpg"].pixel_box(0) == entry("a.jpg", 1, 4).pixel_box(0)
    reopened.compact()
    reopened.close()
    compacted = open_index(folder, sealing)
    assert compacted.records == 1 and sorted(compacted.entries) == ["2024/c.heic", "a.jpg"]


def test_nothing_is_in_clear_on_disk(tmp_path, sealing):
    folder = tmp_path / "albums" / "x"
    index = open_index(folder, sealing)
    photo = entry("holiday/beach-with-grandma.jpg", 1, 5)
    index.put([photo])
    index.close()
    data = segments.segment_path(folder, 1).read_bytes()
    assert b"grandma" not in data and photo.vectors.tobytes()[:32] not in data


def test_a_torn_last_write_loses_only_itself(tmp_path, sealing):
    folder = tmp_path / "albums" / "x"
    index = open_index(folder, sealing)
    index.put([entry("a.jpg", 1, 1)])
    index.close()
    path = segments.segment_path(folder, 1)
    whole = path.read_bytes()
    index = open_index(folder, sealing)
    index.put([entry("b.jpg", 3, 2)])
    index.close()
    torn = path.read_bytes()
    path.write_bytes(torn[: len(whole) + (len(torn) - len(whole)) // 2])  # kill -9 halfway through the append
    reopened = open_index(folder, sealing)
    assert sorted(reopened.entries) == ["a.jpg"]
    reopened.put([entry("c.jpg", 1, 3)])  # and it goes on from there
    reopened.close()
    assert sorted(open_index(folder, sealing).entries) == ["a.jpg", "c.jpg"]


def test_an_altered_index_or_another_model_s_is_refused(tmp_path, sealing):
    folder = tmp_path / "albums" / "x"
    index = open_index(folder, sealing)
    index.put([entry("a.jpg", 1, 1)])
    index.put([entry("b.jpg", 1, 2)])
    index.close()
    with pytest.raises(IndexDamaged, match="other settings"):
        open_index(folder, sealing, "Facenet|haar|1280")
    path = segments.segment_path(folder, 1)
    data = bytearray(path.read_bytes())
    data[60] ^= 1  # inside the first record
    path.write_bytes(bytes(data))
    with pytest.raises(IndexDamaged):
        open_index(folder, sealing)
    with pytest.raises(IndexDamaged):
        open_index(folder, (sealing[0], secrets.token_bytes(32)))  # another installation's secret


def test_the_index_of_another_model_lives_apart():
    assert index_id("/photos", "Dlib|haar|1280") != index_id("/photos", "Facenet|haar|1280")
    assert index_id("/photos", SETTINGS) != index_id("/other", SETTINGS)


def test_a_damaged_index_is_indexed_again_rather_than_stopping_the_server(tmp_path, sealing):
    key, secret = sealing
    album = tmp_path / "album"
    index = open_album_index(tmp_path / "data", key, secret, album, SETTINGS)
    index.put([entry("a.jpg", 1, 1)])
    index.close()
    rotated = StoreKey.generate().write(tmp_path / "keys" / "new.key")  # the store's key was rotated since
    fresh = open_album_index(tmp_path / "data", rotated, secret, album, SETTINGS)
    assert fresh.entries == {}  # empty: the indexer fills it again from the photos
    fresh.put([entry("b.jpg", 1, 2)])
    fresh.close()
    assert sorted(open_album_index(tmp_path / "data", rotated, secret, album, SETTINGS).entries) == ["b.jpg"]


def test_closing_while_a_put_is_being_written_waits_for_it_and_later_puts_are_refused(tmp_path, sealing, monkeypatch):
    """A server stopping closes its indexes while the indexer may still be writing one. The close must
    wait: the file's number, closed under the write, may already be another file's (a server's pipe)."""
    import os
    import threading

    index = open_index(tmp_path / "index", sealing)
    syncing, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(descriptor):  # holds the write between its bytes and its sync
        syncing.set()
        assert release.wait(10)
        real_fsync(descriptor)

    monkeypatch.setattr(segments.os, "fsync", slow_fsync)
    appender = index._appender
    writer = threading.Thread(target=index.put, args=([entry("a.jpg", 2, 1)],))
    writer.start()
    assert syncing.wait(10)
    closer = threading.Thread(target=index.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive(), "the close did not wait for the write in flight"
    release.set()
    writer.join(10)
    closer.join(10)
    assert not writer.is_alive() and not closer.is_alive()
    with pytest.raises(ValueError, match="closed"):
        appender.append(b"a record after the close")
    assert set(open_index(tmp_path / "index", sealing).entries) == {"a.jpg"}
