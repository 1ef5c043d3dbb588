"""What album search costs and how right it is, in one run:

- indexing throughput (photos/s, faces/s) of an album made of the fixture photos and camera-like
  variants of them (mirrored, half size, darker, brighter), beside DeepFace.find indexing a copy of the
  same folder with the same model (Dlib) and detector (OpenCV's Haar); then the same album with every
  photo at a phone's size (4032 pixels wide);
- search latency with 1k, 10k and 100k album faces (the real ones plus random unit vectors);
- re-opening an unchanged album of 500 photos (index read, folder walked, nothing re-read);
- precision and recall of search at the model's default threshold: every photo of a person, as the
  query, should find that person's other photos and variants, and nothing else;
- the faces grouped into people: how many groups, how many faces grouped, and their purity (the share
  of grouped faces that are of their group's majority person);
- a family album of 500 photos (camera-like variants, a third of them at a phone's 12 megapixels) with 20
  short HD videos: this app's whole indexing process (`python -m tools.album index`, imports and the
  model's start included) against DeepFace.find's whole process on the same photos (it ignores videos),
  and the seconds of indexing per minute of video (in process: the indexer's own time).

Run: make bench-album   (or .venv/bin/python bench/album_bench.py [--family-only] [--photos N] [--videos N])

With --shared [--photos N]: only the shared albums of a PostgreSQL store (a server of the benchmark's
own): one library indexing the album alone, then two libraries on one database indexing it together;
each one's rate, the share of files each did (claim fairness) and the double work (files read or
written by both: must be 0). Both libraries run in this process and share its one model process, as
two servers on a 2-core machine would share its cores: the ratio shows the claiming's overhead, not
what two machines gain.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.parts import FIXTURES, scratch_parts  # noqa: E402
from recognition.album.index import AlbumIndex, PhotoEntry, open_album_index  # noqa: E402
from recognition.album.indexer import AlbumIndexer  # noqa: E402
from recognition.album.search import FaceMatrix  # noqa: E402
from recognition.album.walker import walk  # noqa: E402

PHONE_WIDTH = 4032  # a 12-megapixel phone photo
PEOPLE = ["obama", "biden", "kit_harington", "rose_leslie", "alex_lacamoire"]
VARIANTS = {
    "original": lambda image: image,
    "mirrored": lambda image: cv2.flip(image, 1),
    "half": lambda image: cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "darker": lambda image: np.clip(image.astype(np.int16) * 0.6, 0, 255).astype(np.uint8),
    "brighter": lambda image: np.clip(image.astype(np.int16) * 1.3 + 20, 0, 255).astype(np.uint8),
}


def make_album(folder: Path, width: int = 0) -> dict[str, str]:
    """The album's photos: each person's fixture photos in every variant (scaled to width pixels wide
    when given: a phone's 12-megapixel photos); returns photo -> person."""
    people = {}
    for person in PEOPLE:
        for source in sorted((FIXTURES / "faces" / person).iterdir()):
            image = cv2.imread(str(source), cv2.IMREAD_COLOR)
            if image is None:
                continue
            for name, variant in VARIANTS.items():
                relative = f"{person}/{source.stem}-{name}.jpg"
                (folder / person).mkdir(parents=True, exist_ok=True)
                picture = variant(image)
                if width:
                    picture = cv2.resize(picture, (width, round(picture.shape[0] * width / picture.shape[1])),
                                         interpolation=cv2.INTER_CUBIC)
                cv2.imwrite(str(folder / relative), picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
                people[relative] = person
    return people


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--family-only", action="store_true", help="only the 500 photos and 20 videos")
    options.add_argument("--shared", action="store_true", help="only the shared albums of a PostgreSQL store")
    options.add_argument("--photos", type=int, default=None, help="photos in the album (500; 200 with --shared)")
    options.add_argument("--videos", type=int, default=20)
    args = options.parse_args()
    if args.shared:
        return shared(args.photos or 200)
    args.photos = args.photos or 500
    work, store, analyzer = scratch_parts("albumbench-")
    try:
        family(work, analyzer, args.photos, args.videos)
        if args.family_only:
            return 0
        album = work / "album"
        people = make_album(album)
        print(f"album: {len(people)} photos of {len(PEOPLE)} people ({len(VARIANTS)} variants of each fixture photo)")
        index, rate = index_album(album, store, analyzer)
        deepface_find(album, work, rate)
        phone = work / "album-phone"
        make_album(phone, width=PHONE_WIDTH)
        print(f"\nthe same album as a phone takes it: every photo {PHONE_WIDTH} pixels wide")
        _, rate = index_album(phone, store, analyzer)
        deepface_find(phone, work, rate)
        search_latency(index, analyzer.matcher.threshold)
        reopen(work, store)
        accuracy(index, people, analyzer.matcher.threshold)
        grouping(index, people, analyzer.matcher.threshold)
    finally:
        analyzer.embedder.stop()
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


VIDEO_SECONDS = 12.0
VIDEO_SIZES = [(1920, 1080), (1280, 720)]  # phones film at 1080p; shared copies are often 720p


def family(work: Path, analyzer, photos: int, videos: int) -> None:
    """A family album: whole processes of this app and DeepFace.find on its photos, then its videos."""
    from tests.support.home_video import Visit, home_video

    album = work / "family"
    people = make_family_photos(album / "photos", photos)
    rng = np.random.default_rng(9)
    sources = [f"{person}/{source.name}" for person in PEOPLE for source in sorted((FIXTURES / "faces" / person).iterdir())
               if source.suffix.lower() in (".jpg", ".png")]
    started = time.monotonic()
    (album / "videos").mkdir(parents=True)
    for number in range(videos):
        chosen = rng.choice(len(sources), size=2, replace=False)
        visits = [Visit(sources[chosen[0]], 0.5, 7.0, x=0.35, face=float(rng.uniform(70, 160))),
                  Visit(sources[chosen[1]], 4.0, 11.5, x=0.65, face=float(rng.uniform(70, 160)),
                        light=float(rng.uniform(0.6, 1.0)))]
        home_video(album / "videos" / f"{number:02d}.mp4", visits, VIDEO_SECONDS, size=VIDEO_SIZES[number % 2])
    print(f"family album: {len(people)} photos ({sum(1 for p in people if 'phone' in p)} at {PHONE_WIDTH} px wide), "
          f"{videos} videos of {VIDEO_SECONDS:.0f} s (half 1080p, half 720p); made in {time.monotonic() - started:.0f} s")
    ours = whole_process(["-m", "tools.album", "--data-dir", str(work / "family-db"), "--model", "Dlib", "index",
                          str(album / "photos")], work)
    print(f"this app, whole process (python -m tools.album index): {ours:.1f} s = {len(people) / ours:.2f} photos/s")
    copy = work / "family-deepface"
    shutil.copytree(album / "photos", copy)
    query = str(FIXTURES / "faces" / "obama" / "obama3.jpg")
    theirs = whole_process(["-c", "from deepface import DeepFace; DeepFace.find(img_path=%r, db_path=%r, "
                                  "model_name='Dlib', detector_backend='opencv', enforce_detection=False, silent=True)"
                            % (query, str(copy))], work)
    print(f"DeepFace.find, whole process, the same photos: {theirs:.1f} s = {len(people) / theirs:.2f} photos/s")
    print(f"indexing the family album's photos, this app / DeepFace.find: {theirs / ours:.1f}x (goal 5x)")
    videos_index(work, album / "videos", analyzer, videos * VIDEO_SECONDS)


def videos_index(work: Path, folder: Path, analyzer, footage: float) -> None:
    from recognition.store.vault import StoreKey

    key = StoreKey.generate().write(work / "video-keys" / "store.key")
    index = AlbumIndex.open(work / "video-index", key, os.urandom(32), "bench-videos")
    indexer = AlbumIndexer.for_model(analyzer.embedder)
    started = time.monotonic()
    progress = indexer.index([(folder, index)])
    elapsed = time.monotonic() - started
    appearances = sum(entry.faces for entry in index.snapshot())
    index.close()
    print(f"videos: {progress.photos} of {progress.total} indexed ({dict(progress.skipped) or 'none skipped'}), "
          f"{footage / 60:.1f} min of footage in {elapsed:.1f} s = {elapsed / (footage / 60):.1f} s of indexing per "
          f"minute of video; {appearances} appearances (2 people walk through each)")


def make_family_photos(folder: Path, count: int) -> list[str]:
    """count photos cycling through the fixture people in camera-like variants; every third at a phone's size."""
    sources = [source for person in PEOPLE for source in sorted((FIXTURES / "faces" / person).iterdir())
               if cv2.imread(str(source), cv2.IMREAD_COLOR) is not None]
    names = list(VARIANTS)
    made = []
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        source = sources[number % len(sources)]
        variant = names[(number // len(sources)) % len(names)]
        picture = VARIANTS[variant](cv2.imread(str(source), cv2.IMREAD_COLOR))
        phone = number % 3 == 2
        if phone:
            picture = cv2.resize(picture, (PHONE_WIDTH, round(picture.shape[0] * PHONE_WIDTH / picture.shape[1])),
                                 interpolation=cv2.INTER_CUBIC)
        relative = f"{number:04d}-{source.stem}-{variant}{'-phone' if phone else ''}.jpg"
        cv2.imwrite(str(folder / relative), picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
        made.append(relative)
    return made


def whole_process(arguments: list[str], work: Path) -> float:
    """Seconds a fresh Python process takes to run these arguments, imports included."""
    env = dict(os.environ, DEEPFACE_HOME=str(work), TF_CPP_MIN_LOG_LEVEL="3", FACE_KEY_FILE=str(work / "family-key"))
    env.pop("OPENCV_IO_MAX_IMAGE_PIXELS", None)  # this process's own bound (recognition/images.py), not theirs
    started = time.monotonic()
    done = subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=7200)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{arguments[:2]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def index_album(album: Path, store, analyzer) -> tuple[AlbumIndex, float]:
    index = open_album_index(store.data_dir, store.key, store.secret, album, "bench")
    indexer = AlbumIndexer.for_model(analyzer.embedder)
    started = time.monotonic()
    progress = indexer.index([(album, index)])
    elapsed = time.monotonic() - started
    print(f"\nthis app, indexing: {progress.photos} photos, {progress.faces} faces in {elapsed:.1f} s = "
          f"{progress.photos / elapsed:.2f} photos/s, {progress.faces / elapsed:.2f} faces/s")
    return index, progress.photos / elapsed


def deepface_find(album: Path, work: Path, our_rate: float) -> None:
    """DeepFace.find on a copy of the album (it writes its representations into the folder it searches)."""
    from deepface import DeepFace

    copy = work / f"deepface-{album.name}"
    shutil.copytree(album, copy)
    query = str(FIXTURES / "faces" / "obama" / "obama3.jpg")
    started = time.monotonic()
    DeepFace.find(img_path=query, db_path=str(copy), model_name="Dlib", detector_backend="opencv",
                  enforce_detection=False, silent=True)
    indexing = time.monotonic() - started
    photos = sum(1 for _ in copy.rglob("*.jpg"))
    searches = []
    for _ in range(3):
        started = time.monotonic()
        DeepFace.find(img_path=query, db_path=str(copy), model_name="Dlib", detector_backend="opencv",
                      enforce_detection=False, silent=True)
        searches.append(time.monotonic() - started)
    rate = photos / indexing
    print(f"DeepFace.find, indexing the same {photos} photos (Dlib, opencv): {indexing:.1f} s = {rate:.2f} photos/s; "
          f"a search once indexed: {statistics.median(searches) * 1000:.0f} ms (includes the query's own detection)")
    print(f"indexing throughput, this app / DeepFace.find: {our_rate / rate:.1f}x")


def search_latency(index: AlbumIndex, threshold: float) -> None:
    real = index.snapshot()
    query = next(entry.vectors[0] for entry in real if entry.faces)
    dimensions = len(query)
    rng = np.random.default_rng(3)
    print()
    for total in (1_000, 10_000, 100_000):
        filler = total - sum(entry.faces for entry in real)
        vectors = rng.normal(size=(filler, dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        boxes = np.tile(np.float32([[0.1, 0.1, 0.2, 0.2]]), (filler, 1))
        synthetic = [PhotoEntry(f"filler/{i // 4}-{i}.jpg", 1, 1, "0" * 64, 800, 600, boxes[i : i + 1],
                                vectors[i : i + 1]) for i in range(filler)]
        matrix = FaceMatrix([("album", real + synthetic)], dimensions)
        times = []
        for _ in range(30):
            started = time.perf_counter()
            matrix.search(query[None, :], threshold)
            times.append(time.perf_counter() - started)
        print(f"search among {matrix.faces:>7,} faces: median {statistics.median(times) * 1000:.1f} ms, "
              f"p95 {sorted(times)[int(0.95 * len(times))] * 1000:.1f} ms")


def reopen(work: Path, store) -> None:
    """An unchanged album of 500 photos: index opened, folder walked, every photo found unchanged."""
    album = work / "album-500"
    album.mkdir()
    sources = sorted((FIXTURES / "faces").rglob("*.jpg"))
    for number in range(500):
        shutil.copyfile(sources[number % len(sources)], album / f"{number:04d}.jpg")
    settings = "bench-500"
    index = open_album_index(store.data_dir, store.key, store.secret, album, settings)
    rng = np.random.default_rng(5)
    entries = []
    for relative, state in walk(album):
        vectors = rng.normal(size=(2, 128)).astype(np.float32)
        entries.append(PhotoEntry(relative, state.size, state.mtime_ns, "0" * 64, 800, 600,
                                  np.float32([[0.1, 0.1, 0.2, 0.2]] * 2), vectors))
    for start in range(0, len(entries), 16):  # as the indexer writes them: a record per batch
        index.put(entries[start : start + 16])
    index.close()
    started = time.monotonic()
    reopened = open_album_index(store.data_dir, store.key, store.secret, album, settings)
    unchanged = sum(1 for relative, state in walk(album)
                    if (reopened.entries[relative].size, reopened.entries[relative].mtime_ns) == (state.size, state.mtime_ns))
    elapsed = time.monotonic() - started
    reopened.close()
    print(f"\nre-opening an unchanged album of 500 photos ({reopened.records} records): {elapsed * 1000:.0f} ms, "
          f"{unchanged} photos found unchanged")


def accuracy(index: AlbumIndex, people: dict[str, str], threshold: float) -> None:
    entries = {entry.path: entry for entry in index.snapshot()}
    matrix = FaceMatrix([("album", list(entries.values()))], len(next(e for e in entries.values() if e.faces).vectors[0]))
    returned = correct = relevant = 0
    for path, person in people.items():
        entry = entries.get(path)
        if entry is None or entry.faces == 0:
            continue
        largest = int(np.argmax(entry.boxes[:, 2] * entry.boxes[:, 3]))
        matches = [m for m in matrix.search(entry.vectors[largest][None, :], threshold) if m.photo != path]
        same = {p for p, who in people.items() if who == person and p != path}
        returned += len(matches)
        correct += sum(1 for m in matches if m.photo in same)
        relevant += len(same)
    print(f"\nsearch at the default threshold {threshold:.2f}, every photo as the query: precision "
          f"{correct / max(returned, 1):.3f} ({correct} of {returned} returned), recall {correct / max(relevant, 1):.3f} "
          f"({correct} of {relevant} photos of the person)")


def grouping(index: AlbumIndex, people: dict[str, str], threshold: float) -> None:
    from recognition.album.people import FaceRef, group_people

    vectors, refs = [], []
    for entry in index.snapshot():
        for face in range(entry.faces):
            vectors.append(entry.vectors[face])
            refs.append(FaceRef("album", entry.path, face))
    started = time.perf_counter()
    groups, alone = group_people(np.stack(vectors), refs, threshold)
    elapsed = time.perf_counter() - started
    grouped = sum(len(group.faces) for group in groups)
    pure = sum(max(np.unique([people[f.photo] for f in group.faces], return_counts=True)[1]) for group in groups)
    print(f"\npeople: {len(groups)} groups of {len(people and set(people.values()))} people; {grouped} of {len(refs)} faces "
          f"grouped, purity {pure / max(grouped, 1):.3f}; sizes {[len(g.faces) for g in groups]}; {elapsed * 1000:.0f} ms")


def shared(photos: int) -> int:
    """Two libraries on one PostgreSQL database against one alone, on the same album of photos files."""
    from recognition.album.library import AlbumLibrary
    from recognition.store.postgres.store import PostgresStore
    from tests.support.postgres_server import PostgresServer

    work, store, analyzer = scratch_parts("albumshared-")
    database = PostgresServer().start()
    try:
        made = work / "made"
        make_album(made)
        album = work / "Family"
        for number, source in enumerate(sorted(made.rglob("*.jpg"))[:photos]):
            album.mkdir(exist_ok=True)
            shutil.copy2(source, album / f"{number:04d}-{source.name}")
        count = sum(1 for _ in album.iterdir())
        print(f"shared album: {count} photos; PostgreSQL {database.url()}")

        def run(names: list[str]) -> tuple[float, list]:
            url = database.new_database()
            stores = [PostgresStore(url, work / name, work / "keys" / "store.key") for name in names]
            libraries = [AlbumLibrary.for_server([album], s, analyzer) for s in stores]
            started = time.monotonic()
            for library in libraries:
                library.start()
            deadline = started + 3600
            while time.monotonic() < deadline and any(lib.progress.state == "indexing" for lib in libraries):
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            results = [(library.progress, list(library._indexer.indexed)) for library in libraries]
            for library, opened in zip(libraries, stores):
                library.stop()
                opened.close()
            return elapsed, results

        alone, [(progress, _)] = run(["alone"])
        alone_read = progress.read
        print(f"one library alone: {count} photos in {alone:.1f} s = {count / alone:.2f} photos/s "
              f"({progress.read} read)")
        together, results = run(["a", "b"])
        done = [len(indexed) for _, indexed in results]
        twice = len([path for path in set(results[0][1]) & set(results[1][1])])
        reads = sum(progress.read for progress, _ in results)
        for name, (progress, indexed) in zip("ab", results):
            print(f"library {name}: {len(indexed)} files = {len(indexed) / together:.2f} files/s, "
                  f"share {len(indexed) / max(sum(done), 1):.0%}, {progress.read} read")
        print(f"two libraries together: {sum(done)} files in {together:.1f} s = {sum(done) / together:.2f} files/s; "
              f"double work: {twice} files written by both, {reads - alone_read} reads beyond one per photo")
        print(f"together / alone: {alone / together:.2f}x the rate")
    finally:
        analyzer.embedder.stop()
        store.close()
        database.remove()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
