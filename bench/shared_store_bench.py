"""Shared-store benchmark: the file store and the PostgreSQL store at 1k, 100k and 1M identities.

For each backend and size it prints, measured in a fresh process that opens the store as a server does:
- startup: seconds to open the store (read, unseal and index every identity), and for PostgreSQL the
  part spent reading from the database; then the seconds until matching's approximate index is ready
  (the server answers, with exact search, before that);
- memory: the process's resident set after opening, and before (the interpreter and libraries);
- enroll p50 / p95: one new face through Matcher.enroll_many, as POST /faces does it: the duplicate
  check over every stored vector, then the durable write (an fsync'd append, or a COMMIT);
- identify p50 / p95 for one face and for ten at once (noisy copies of stored people, at similarities
  0.93-0.99, and strangers), against the baseline of exact search over every row in the same process;
- PostgreSQL only: enrolled on server A, recognised on server B (a second store in the same process,
  with its own connection and follower): p50 / p95 / max, the issue's promise being under a second.

Random 128-d unit vectors stand in for people (two random ones never match). The PostgreSQL server is a
throwaway one the benchmark starts (Debian's binaries; `make postgres`).
Run: make bench-shared_store   (or .venv/bin/python bench/shared_store_bench.py --sizes 1000 100000 1000000)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "Dlib"
FILL_BATCH = 16384
ENROLLS, IDENTIFIES, TENS, HOPS = 200, 300, 100, 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", default=["file", "postgresql"], choices=["file", "postgresql"])
    parser.add_argument("--measure", nargs=4, metavar=("BACKEND", "URL", "DATA_DIR", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    from tests.support.postgres_server import PostgresServer

    work = Path(tempfile.mkdtemp(prefix="sharedbench-"))
    database = PostgresServer().start() if "postgresql" in args.backends else None
    try:
        for backend in args.backends:
            url = database.new_database("bench") if backend == "postgresql" else "file"
            data_dir, key = work / backend / "db", work / "keys" / "store.key"
            print(f"\n== {backend} ({url if backend == 'postgresql' else data_dir})", flush=True)
            for size in sorted(args.sizes):
                took = fill(url, data_dir, key, size)
                print(f"-- {size:,} identities (filled in {took:.1f} s)", flush=True)
                report(run_child(backend, url, data_dir, key))
    finally:
        if database is not None:
            database.remove()
    print(f"\nscratch folder {work} (random vectors only); remove it when done")
    return 0


def open_for(url: str, data_dir: Path, key: Path, **options):
    from recognition.store import open_store

    return open_store(data_dir, key, url=None if url == "file" else url, **options)


def fill(url: str, data_dir: Path, key: Path, size: int) -> float:
    """Top the store up to size people (bulk writes, as `tools.store copy` makes them)."""
    from recognition.store.identity import Identity

    started = time.monotonic()
    rng = np.random.default_rng(len(str(data_dir)) + size)
    with open_for(url, data_dir, key, **({"follow": False} if url != "file" else {})) as store:
        while len(store) < size:
            count = min(FILL_BATCH, size - len(store))
            vectors = unit_rows(rng, count)
            hashes = rng.bytes(32 * count).hex()
            store.add_many([Identity(hash=hashes[64 * i : 64 * (i + 1)], model=MODEL, embeddings=[vectors[i]])
                            for i in range(count)])
    return time.monotonic() - started


def run_child(backend: str, url: str, data_dir: Path, key: Path) -> dict:
    result = subprocess.run([sys.executable, "-X", "faulthandler", __file__, "--measure", backend, url, str(data_dir),
                             str(key)], capture_output=True, text=True, timeout=3600, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"the measuring process ended with {result.returncode}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(backend: str, url: str, data_dir: str, key: str) -> dict:
    from recognition.matching.matcher import Matcher
    from recognition.matching.search import candidates

    found: dict = {}
    rss_before = rss_mb()
    started = time.monotonic()
    store = open_for(url, Path(data_dir), Path(key))
    found["open_s"] = time.monotonic() - started
    found["rss_mb"], found["rss_before_mb"] = rss_mb(), rss_before
    found["identities"] = len(store)
    found["index_ready_s"] = wait_for_index(store)
    matcher = Matcher(store, MODEL)
    rng = np.random.default_rng()
    gallery = store.gallery(MODEL)

    def queries(count: int) -> np.ndarray:
        rows = gallery.vectors[rng.integers(0, len(gallery.vectors), count)]
        return noisy(rng, rows, rng.uniform(0.93, 0.99, count))

    found["recall"], found["strangers_named"] = recall(gallery, matcher.threshold, queries(2000), unit_rows(rng, 500))
    found["identify1"] = timed(lambda: matcher.identify(queries(1)), IDENTIFIES)
    found["identify10"] = timed(lambda: matcher.identify(np.vstack([queries(5), unit_rows(rng, 5)])), TENS)
    exact = lambda q: candidates(gallery, q, matcher.threshold, approximate=False)  # noqa: E731 - the baseline
    found["exact1"] = timed(lambda: exact(queries(1)), max(20, IDENTIFIES // 10))
    found["exact10"] = timed(lambda: exact(np.vstack([queries(5), unit_rows(rng, 5)])), max(10, TENS // 10))
    found["enroll"] = timed(lambda: matcher.enroll_many(unit_rows(rng, 1), [None]), ENROLLS)
    if backend == "postgresql":
        other = open_for(url, Path(data_dir) / "b", Path(key))
        wait_for_index(other)  # B as a server that has been up a while (until then it matches exactly)
        found["a_to_b"] = hops(store, other, rng)
    store.close()
    return found


def hops(a, b, rng) -> list[float]:
    """Seconds from A's enrollment returning to B recognising the face, HOPS times."""
    from recognition.matching.matcher import Matcher

    enroll_a, on_b = Matcher(a, MODEL), Matcher(b, MODEL)
    seconds = []
    for _ in range(HOPS):
        vector = unit_rows(rng, 1)
        enroll_a.enroll_many(vector, [None])
        started = time.monotonic()
        while on_b.identify(vector)[0] is None and time.monotonic() - started < 5:
            time.sleep(0.001)
        seconds.append(time.monotonic() - started)
    b.close()
    return seconds


def wait_for_index(store) -> float:
    """Seconds until matching's approximate index covers the gallery (about 0 when it needs none)."""
    def ready() -> bool:
        gallery = store.gallery(MODEL)
        return gallery.approximate is None or gallery.approximate.covers(len(gallery.vectors))

    started = time.monotonic()
    while not ready() and time.monotonic() - started < 1800:
        time.sleep(0.05)
    return time.monotonic() - started


def recall(gallery, threshold: float, sightings: np.ndarray, strangers: np.ndarray) -> tuple[float, int]:
    """Of the faces exact search gives a person, the share the index gives the same one; and how many
    strangers either names (none, if the index never names one exact search would not)."""
    from recognition.matching.search import candidates

    def best(found):
        return [max(f, key=f.get) if f else None for f in found]

    exact, indexed = best(candidates(gallery, sightings, threshold, approximate=False)), \
        best(candidates(gallery, sightings, threshold))
    named = sum(e is not None for e in exact)
    same = sum(e is not None and e == i for e, i in zip(exact, indexed))
    strangers_named = sum(bool(f) for f in candidates(gallery, strangers, threshold)) + \
        sum(bool(f) for f in candidates(gallery, strangers, threshold, approximate=False))
    return same / max(named, 1), strangers_named


def timed(action, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def unit_rows(rng, count: int) -> np.ndarray:
    rows = rng.normal(size=(count, 128)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def noisy(rng, rows: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """Rows turned away from themselves to the given cosine similarities (another sighting of a face)."""
    away = unit_rows(rng, len(rows))
    away -= (away * rows).sum(axis=1, keepdims=True) * rows
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    sim = similarity[:, np.newaxis]
    return (sim * rows + np.sqrt(1 - sim ** 2) * away).astype(np.float32)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(found: dict) -> None:
    def line(label: str, key: str, baseline: str = "") -> None:
        text = f"   {label:34} p50 {ms(found[key], 0.5):8.2f} ms   p95 {ms(found[key], 0.95):8.2f} ms"
        if baseline:
            text += f"   (exact search: p95 {ms(found[baseline], 0.95):8.2f} ms, " \
                    f"{ms(found[baseline], 0.95) / max(ms(found[key], 0.95), 1e-6):.1f}x)"
        print(text)

    print(f"   startup: store opened in {found['open_s']:.2f} s ({found['identities']:,} identities); "
          f"approximate index ready {found['index_ready_s']:.1f} s after")
    print(f"   memory: {found['rss_mb']:.0f} MB resident after opening ({found['rss_before_mb']:.0f} MB before)")
    print(f"   recall of the index against exact search: {found['recall']:.4f} (2000 faces at similarity "
          f"0.93-0.99 to a stored one); strangers named: {found['strangers_named']} of 500")
    line("enroll one face", "enroll")
    line("identify one face", "identify1", "exact1")
    line("identify ten faces", "identify10", "exact10")
    if "a_to_b" in found:
        hop = found["a_to_b"]
        print(f"   enrolled on A, recognised on B: p50 {ms(hop, 0.5):.1f} ms, p95 {ms(hop, 0.95):.1f} ms, "
              f"max {1000 * max(hop):.1f} ms ({len(hop)} faces)")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
