"""Approximate-index benchmark: the numpy inverted file (recognition/matching/approximate.py) against
usearch's HNSW, at 100k and 1M rows of 128-d (Dlib's) unit vectors.

For each index and size it prints, each measured in a fresh process (so memory figures do not mix):
- recall against exact search: of the true nearest row (top-1) and of the true ten nearest (top-10),
  the share the index's proposals (PROPOSED rows, scored exactly, as search.py does) hold;
- identify p50 / p95: one face through search.candidates(), as /identify matches it (the proposals
  scored exactly against the gallery), and exact search in the same process as the baseline;
- build: wall seconds and CPU seconds (how many cores it took from recognition meanwhile);
- memory: the index's own bytes, the resident set's growth and its peak growth during the build;
- builds beside searches: identify p50 / p95 while a second build of the same index runs in another
  thread (as IndexSlot rebuilds one while the server matches through the old); for usearch also while
  1/16 more rows are added to the live index (HNSW can grow in place, an inverted file cannot).
Then the ratios usearch / numpy.

The rows are made to look like face embeddings rather than uniform noise: every face shares a common
direction (Dlib's vectors lie in a cone: unrelated people are at about 0.45 similarity), then one of
32 broad groups, then one of size/100 close groups of about 100 people (0.70 between them), then the
person's own part. Queries are other sightings of stored rows at similarities 0.93-0.99 (the
threshold's neighbourhood, as bench/shared_store_bench.py asks). `--data random` uses that bench's
uniform random rows instead.
Run: make bench-ann   (installs requirements-bench.txt: usearch; or, with it installed,
     .venv/bin/python bench/ann_bench.py --sizes 100000 1000000 --kinds numpy usearch-f16)
Findings: docs/benchmarks-index.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared_store_bench import timed  # noqa: E402  (bench/ is the script's own folder on sys.path)

DIMS, THRESHOLD = 128, 0.93
QUERIES, TIMED = 1000, 300
BESIDE_S, CHUNK = 30.0, 16384  # seconds of searching beside a rebuild; rows an HNSW rebuild adds at once
# Shares of the squared norm: common cone, broad group, close group, the person (see the docstring).
PARTS = (0.45, 0.10, 0.15, 0.30)
KINDS = ("numpy", "usearch-f16", "usearch-f32")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--data", choices=["faces", "random"], default="faces")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return 0
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start "
          f"(others' work shares these cores: see the figures as a busy server's)")
    for size in args.sizes:
        folder = Path(tempfile.mkdtemp(prefix="annbench-"))
        started = time.monotonic()
        make_data(folder, size, args.data)
        print(f"\n-- {size:,} rows ({args.data}; made with exact top-10 in {time.monotonic() - started:.0f} s)",
              flush=True)
        results = {}
        for kind in args.kinds:
            results[kind] = run_child(kind, folder)
            report(kind, results[kind])
        ratios(results)
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    return 0


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def face_like(rng, count: int) -> np.ndarray:
    common = unit(rng.normal(size=(1, DIMS)))
    broad = unit(rng.normal(size=(32, DIMS)))
    close = unit(rng.normal(size=(max(1, count // 100), DIMS)))
    weights = np.sqrt(PARTS)
    rows = np.empty((count, DIMS), dtype=np.float32)
    for start in range(0, count, 65536):
        n = min(65536, count - start)
        group = rng.integers(0, len(close), n)
        rows[start : start + n] = unit(weights[0] * common + weights[1] * broad[group % 32]
                                       + weights[2] * close[group] + weights[3] * unit(rng.normal(size=(n, DIMS))))
    return rows


def sightings(rng, rows: np.ndarray) -> np.ndarray:
    """Rows turned away from themselves to similarities 0.93-0.99 (another photo of the same face)."""
    away = unit(rng.normal(size=rows.shape))
    away -= (away * rows).sum(axis=1, keepdims=True) * rows
    away = unit(away)
    similarity = rng.uniform(0.93, 0.99, len(rows))[:, np.newaxis]
    return (similarity * rows + np.sqrt(1 - similarity ** 2) * away).astype(np.float32)


def make_data(folder: Path, size: int, data: str) -> None:
    rng = np.random.default_rng(size)
    vectors = face_like(rng, size) if data == "faces" else unit(rng.normal(size=(size, DIMS)))
    queries = sightings(rng, vectors[rng.integers(0, size, QUERIES)])
    truth = np.empty((QUERIES, 10), dtype=np.int64)
    for start in range(0, QUERIES, 100):  # exact top-10 in blocks of 100 queries (a 100 x size matrix)
        scores = queries[start : start + 100] @ vectors.T
        top = np.argpartition(-scores, 9, axis=1)[:, :10]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        truth[start : start + 100] = np.take_along_axis(top, order, axis=1)
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", truth)


def run_child(kind: str, folder: Path) -> dict:
    result = subprocess.run([sys.executable, "-X", "faulthandler", __file__, "--measure", kind, str(folder)],
                            capture_output=True, text=True, timeout=3600, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"measuring {kind} ended with {result.returncode}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def build(kind: str, vectors: np.ndarray):
    if kind == "numpy":
        from recognition.matching.approximate import RowIndex

        return RowIndex(vectors)
    from bench.hnsw_index import HnswIndex

    return HnswIndex(vectors, dtype=kind.split("-")[1])


def index_bytes(index) -> int:
    if hasattr(index, "memory_bytes"):
        return index.memory_bytes()
    return sum(a.nbytes for a in (index.centres, index._grouped, index._order, index._starts))


def measure(kind: str, folder: Path) -> dict:
    from recognition.matching.approximate import IndexSlot
    from recognition.matching.search import candidates
    from recognition.store.gallery import Gallery

    vectors, queries, truth = (np.load(folder / f"{name}.npy") for name in ("vectors", "queries", "truth"))
    found: dict = {"rows": len(vectors), "load": os.getloadavg()[0]}
    rss_before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on: the build's peak
    cpu, started = time.process_time(), time.monotonic()
    index = build(kind, vectors)
    found["build_s"], found["build_cpu_s"] = time.monotonic() - started, time.process_time() - cpu
    found["rss_growth_mb"] = (status("VmRSS") - rss_before) / 1024
    found["peak_growth_mb"] = (status("VmHWM") - rss_before) / 1024
    found["index_mb"] = index_bytes(index) / 2**20

    top1 = top10 = 0
    for query, proposed, true in zip(queries, index.propose(queries), truth):
        order = proposed[np.argsort(-(vectors[proposed] @ query))][:10]
        top1 += bool(len(order)) and order[0] == true[0]
        top10 += len(np.intersect1d(order, true))
    found["recall1"], found["recall10"] = top1 / len(queries), top10 / (10 * len(queries))

    slot = IndexSlot(approximate_from=1)
    slot.ready = index
    empty = np.zeros((0, DIMS), np.float32)
    gallery = Gallery(vectors, np.arange(len(vectors)), empty, np.zeros(0, np.int64), (), (), (), slot)
    rng = np.random.default_rng(1)

    def one(approximate: bool = True):
        return lambda: candidates(gallery, queries[rng.integers(0, len(queries), 1)], THRESHOLD,
                                  approximate=approximate)

    found["identify"] = timed(one(), TIMED)
    found["exact"] = timed(one(False), 30)
    found["beside_build"], found["beside_build_s"] = beside(one(), lambda stop: rebuild(kind, vectors, stop))
    if kind != "numpy":
        more = sightings(rng, vectors[rng.integers(0, len(vectors), len(vectors) // 16)])
        found["beside_add"], found["beside_add_s"] = beside(one(), lambda stop: index.add(more))
    return found


def rebuild(kind: str, vectors: np.ndarray, stop: threading.Event) -> None:
    """A second build of the index; an HNSW graph is built in chunks, to stop once BESIDE_S is measured
    (its whole build takes minutes at a million rows)."""
    if kind == "numpy":
        build(kind, vectors)
        return
    from bench.hnsw_index import HnswIndex

    index = HnswIndex(vectors[:CHUNK], dtype=kind.split("-")[1])
    for start in range(CHUNK, len(vectors), CHUNK):
        if stop.is_set():
            return
        index.add(vectors[start : start + CHUNK])


def beside(search, work) -> tuple[list[float], float]:
    """Search latencies while work(stop) runs in another thread (up to BESIDE_S), and its seconds."""
    took: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=lambda: took.append(timed(lambda: work(stop), 1)[0]), name="bench-build")
    started = time.monotonic()
    thread.start()
    seconds = []
    while (thread.is_alive() and time.monotonic() - started < BESIDE_S) or len(seconds) < 20:
        seconds += timed(search, 1)
        time.sleep(0.005)  # a face every few ms at most, as a busy camera gives
    stop.set()
    thread.join()
    return seconds, took[0]


def status(field: str) -> int:
    """A /proc/self/status figure in kB."""
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(kind: str, f: dict) -> None:
    print(f"   {kind:12} (load average {f['load']:.1f} as it started)")
    print(f"   {'':12} recall top-1 {f['recall1']:.4f}, top-10 {f['recall10']:.4f}; "
          f"identify p50 {ms(f['identify'], .5):.2f} ms, p95 {ms(f['identify'], .95):.2f} ms "
          f"(exact search p95 {ms(f['exact'], .95):.1f} ms)")
    print(f"   {'':12} build {f['build_s']:.1f} s ({f['build_cpu_s']:.1f} s of CPU); index {f['index_mb']:.0f} MB, "
          f"resident +{f['rss_growth_mb']:.0f} MB (peak +{f['peak_growth_mb']:.0f} MB)")
    print(f"   {'':12} beside a rebuild ({f['beside_build_s']:.1f} s, at most {BESIDE_S:.0f} s): "
          f"identify p50 {ms(f['beside_build'], .5):.2f} ms, "
          f"p95 {ms(f['beside_build'], .95):.2f} ms over {len(f['beside_build'])} faces", end="")
    if "beside_add" in f:
        print(f"; beside adding 1/16 more ({f['beside_add_s']:.1f} s): p50 {ms(f['beside_add'], .5):.2f} ms, "
              f"p95 {ms(f['beside_add'], .95):.2f} ms", end="")
    print(flush=True)


def ratios(results: dict) -> None:
    base = results.get("numpy")
    if base is None:
        return
    for kind, f in results.items():
        if kind == "numpy":
            continue
        print(f"   {kind} / numpy: identify p95 {ms(f['identify'], .95) / ms(base['identify'], .95):.2f}x, "
              f"beside a rebuild p95 {ms(f['beside_build'], .95) / ms(base['beside_build'], .95):.2f}x, "
              f"build {f['build_s'] / base['build_s']:.1f}x wall, {f['build_cpu_s'] / base['build_cpu_s']:.1f}x CPU, "
              f"index {f['index_mb'] / base['index_mb']:.2f}x, peak memory "
              f"{f['peak_growth_mb'] / max(base['peak_growth_mb'], 1):.2f}x, top-1 recall "
              f"{f['recall1'] - base['recall1']:+.4f}, top-10 {f['recall10'] - base['recall10']:+.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
