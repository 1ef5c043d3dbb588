"""Indexing a real album of the fixture photos with the real detector and model: faces found, changes
noticed, bad files skipped with their reason, nothing re-read that did not change."""
import os
import secrets
import shutil
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from recognition.album.index import AlbumIndex, file_digest
from recognition.album import indexer as indexer_module
from recognition.album.indexer import AlbumIndexer
from recognition.store.vault import StoreKey
from tests.conftest import ROOT, fixture_path

SETTINGS = "Dlib|haar|1280"


@pytest.fixture
def album(tmp_path):
    """A small album: people in subfolders, a group photo, a photo without a face and a broken file."""
    folder = tmp_path / "album"
    for relative, target in [("faces/obama/obama1.jpg", "2019/obama1.jpg"), ("faces/obama/obama2.jpg", "2020/obama2.jpg"),
                             ("faces/biden/biden1.jpg", "2020/biden1.jpg"),
                             ("faces/group/obama_and_biden.jpg", "2021/together.jpg")]:
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture_path(relative), folder / target)
    wall = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 15)
    cv2.imwrite(str(folder / "2021" / "wall.jpg"), wall)
    (folder / "2021" / "broken.jpg").write_bytes(b"")
    return folder


@pytest.fixture
def opened(tmp_path):
    key, secret = StoreKey.generate().write(tmp_path / "keys" / "store.key"), secrets.token_bytes(32)
    return lambda name="a": AlbumIndex.open(tmp_path / "data" / "albums" / name, key, secret, SETTINGS)


def test_an_album_is_indexed_with_its_faces_and_its_bad_files_counted(album, opened, detector, aligner, embedder):
    index = opened()
    seen = []
    progress = AlbumIndexer(detector, aligner, embedder, batch=2).index([(album, index)], on_progress=seen.append)
    assert progress.state == "ready" and progress.total == 6 and progress.done == 6
    assert progress.photos == 5 and progress.skipped == {"unreadable": 1}
    assert [p.done for p in seen][:6] == [1, 2, 3, 4, 5, 6]  # progress reported photo by photo
    entries = index.entries
    assert sorted(entries) == ["2019/obama1.jpg", "2020/biden1.jpg", "2020/obama2.jpg", "2021/together.jpg",
                               "2021/wall.jpg"]
    assert entries["2021/wall.jpg"].faces == 0  # remembered, so it is not read again
    assert entries["2021/together.jpg"].faces >= 2 and progress.faces == sum(e.faces for e in entries.values())
    obama1, obama2, biden = (entries[p].vectors[0] for p in ("2019/obama1.jpg", "2020/obama2.jpg", "2020/biden1.jpg"))
    assert float(obama1 @ obama2) > float(obama1 @ biden)  # the vectors are the model's, of the right faces
    width, height = entries["2019/obama1.jpg"].width, entries["2019/obama1.jpg"].height
    assert (width, height) == cv2.imread(str(album / "2019" / "obama1.jpg")).shape[1::-1]
    x, y, w, h = entries["2019/obama1.jpg"].pixel_box(0)
    assert 0 <= x < x + w <= width and 0 <= y < y + h <= height and w >= 50


def test_reindexing_reads_only_what_changed(album, opened, detector, aligner, embedder):
    index = opened()
    AlbumIndexer(detector, aligner, embedder).index([(album, index)])
    records = index.records
    index.close()
    again = opened()  # a restart
    progress = AlbumIndexer(detector, aligner, embedder).index([(album, again)])
    assert progress.done == 6 and again.records == records  # nothing new was written
    before, old_obama1 = again.entries["2020/obama2.jpg"], again.entries["2019/obama1.jpg"].vectors[0]
    os.utime(album / "2020" / "obama2.jpg", ns=(before.mtime_ns + 10**9, before.mtime_ns + 10**9))  # touched only
    shutil.copyfile(fixture_path("faces/biden/biden2.jpg"), album / "2019" / "obama1.jpg")  # content replaced
    (album / "2020" / "biden1.jpg").unlink()  # removed
    progress = AlbumIndexer(detector, aligner, embedder).index([(album, again)])
    entries = again.entries
    assert "2020/biden1.jpg" not in entries and progress.photos == 4
    touched = entries["2020/obama2.jpg"]
    assert touched.mtime_ns == before.mtime_ns + 10**9 and np.array_equal(touched.vectors, before.vectors)
    replaced = entries["2019/obama1.jpg"].vectors[0]  # now Biden: re-read, no longer like Obama's other photo
    assert float(replaced @ touched.vectors[0]) < float(old_obama1 @ touched.vectors[0])
    again.close()
    assert sorted(opened().entries) == sorted(entries)  # and all of it is on disk


def test_a_stop_midway_leaves_a_consistent_index_and_the_next_run_reads_the_rest(album, opened, detector, aligner,
                                                                                 embedder):
    """Photos are read ahead in worker threads; a stop drops those, keeps what was embedded, ends the workers."""
    index, stop = opened(), threading.Event()

    def stop_after_two(progress):
        if progress.done == 2:
            stop.set()

    first = AlbumIndexer(detector, aligner, embedder).index([(album, index)], stop=stop, on_progress=stop_after_two)
    assert first.state == "indexing" and first.done == 2 and first.photos == len(index.entries) == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("album-read")]  # the workers were joined
    assert all(entry.faces == len(entry.vectors) == len(entry.boxes) for entry in index.entries.values())
    kept = {path: entry.vectors for path, entry in index.entries.items()}
    index.close()
    again = opened()  # what the stopped run wrote is on disk, whole
    assert {path: e.vectors.tobytes() for path, e in again.entries.items()} == {p: v.tobytes() for p, v in kept.items()}
    second = AlbumIndexer(detector, aligner, embedder).index([(album, again)])
    assert second.state == "ready" and second.photos == 5 and second.read == 3  # only what was left


def test_a_photo_is_hashed_the_same_whether_read_at_once_or_from_the_file(album, opened, detector, aligner, embedder,
                                                                          monkeypatch):
    at_once = opened()
    AlbumIndexer(detector, aligner, embedder).index([(album, at_once)])
    monkeypatch.setattr(indexer_module, "READ_AT_ONCE", 0)  # as a photo too large to hold in memory is
    from_file = opened("b")
    AlbumIndexer(detector, aligner, embedder).index([(album, from_file)])
    for path, entry in at_once.entries.items():
        assert entry.digest == from_file.entries[path].digest == file_digest(album / path)
        assert np.array_equal(entry.vectors, from_file.entries[path].vectors)


def test_the_command_line_indexes_an_album_with_a_progress_bar(album, tmp_path, weights_dir):
    env = dict(os.environ, FACE_DATA_DIR=str(tmp_path / "data"), FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"),
               FACE_MODEL="Dlib", DEEPFACE_HOME=str(weights_dir.parent.parent), TF_CPP_MIN_LOG_LEVEL="3")

    def tool(*args):
        return subprocess.run([sys.executable, "-m", "tools.album", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    first = tool("index", str(album))
    assert first.returncode == 0, first.stderr
    assert "5 photos" in first.stdout and "skipped: 1 unreadable" in first.stdout
    assert "indexing" in first.stderr and "6/6" in first.stderr  # the progress bar
    status = tool("status", str(album))
    assert status.returncode == 0 and "5 photos" in status.stdout
    missing = tool("index", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_indexing_killed_midway_resumes_where_it_stopped(tmp_path, weights_dir):
    """kill -9 during indexing loses at most the batch in flight; the next run reads only what is left."""
    import signal
    import time

    album = tmp_path / "big"
    album.mkdir()
    sources = sorted((fixture_path("faces") / "obama").glob("*.jpg")) + sorted((fixture_path("faces") / "biden").glob("*.jpg"))
    for number in range(48):
        shutil.copyfile(sources[number % len(sources)], album / f"{number:03d}.jpg")
    env = dict(os.environ, FACE_DATA_DIR=str(tmp_path / "data"), FACE_KEY_FILE=str(tmp_path / "keys" / "store.key"),
               FACE_MODEL="Dlib", DEEPFACE_HOME=str(weights_dir.parent.parent), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "tools.album", "index", str(album)]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    segment = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        found = list((tmp_path / "data" / "albums").glob("*/00000001.seg"))
        if found and found[0].stat().st_size > 4096:  # a batch or two on disk
            segment = found[0]
            break
        time.sleep(0.05)
    assert segment is not None and first.poll() is None, "indexing ended before it could be interrupted"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "48 photos" in second.stdout
    read = int(second.stdout.split(" read")[0].rsplit(" ", 1)[1])
    assert 0 < read < 48  # it resumed: what the killed run had written was kept
