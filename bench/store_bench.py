"""Store benchmark: a real server (run.py in a child process, the fixture clip as its camera) grown to
1k, 100k and 1M identities through POST /faces, over real HTTP.

At each size it prints:
- request latency: single-face POST /faces (an exact duplicate check over every stored vector, then
  an append), PATCH /faces/<hash> (a rename: one segment rewritten) and DELETE (the same, the person
  gone from every file): p50, p95, max;
- recognition pauses: /hash polled every 10 ms while the clip plays; the longest gap between two
  consecutive analysed frames while 20 people are enrolled (spread over two loops of the clip),
  against the same measure over two quiet loops just before (the baseline), and against the clip's
  frame time;
- the server's memory (resident set of the server process; the model process is apart);
- the store alone, in this process while the server is stopped: append, rename and delete, without
  HTTP or the duplicate check, and the anchor's update on its own (each write of the store does one
  before it is acknowledged: the price of refusing a rolled-back store);
- startup: the server started again, seconds until it answers, and the store's own part;
- the old store, measured in this process on the same identities: the previous release kept one
  sealed file and rewrote it whole on every change while holding the lock recognition needs, so its
  write time is also how long recognition stopped; and reading that file back, its startup.

Random 128-d unit vectors stand in for the stored people (no two of them match, as with strangers).
Run: make bench-store   (or .venv/bin/python bench/store_bench.py --sizes 1000 100000 1000000)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.parts import FIXTURES, ServerProcess  # noqa: E402

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
BATCH = 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--writes", type=int, default=200, help="single-face enrollments timed at each size")
    parser.add_argument("--work", type=Path, help="the scratch folder of an earlier run, to measure again without "
                                                  "filling the store anew (it is topped up to each size)")
    args = parser.parse_args()
    if not CLIP.exists():
        print(f"fixture clip not found at {CLIP}; set FACE_FIXTURES")
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="storebench-"))
    server = Server(work)
    rng = np.random.default_rng()  # fresh people on every run, also on a reused store
    try:
        server.start()
        print(f"server up in {server.started_in:.1f} s; clip {CLIP.name} as the camera; scratch {work}")
        for size in sorted(args.sizes):
            fill(server, size, rng)
            print(f"\n== {size:,} identities ==")
            writes(server, rng, args.writes)
            pauses(server, rng)
            print(f"server memory: {server.rss_mb():.0f} MB resident")
            server.stop()
            store_alone(work, rng, args.writes)
            server.start()
            print(f"startup: answering after {server.started_in:.1f} s, of which the store took "
                  f"{server.store_open_seconds():.2f} s (the rest: imports and the model process)")
    finally:
        server.stop()
    return 0


def unit_rows(rng, count: int) -> np.ndarray:
    rows = rng.standard_normal((count, 128), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def fill(server: "Server", size: int, rng) -> None:
    have = server.count()
    started, last_report = time.monotonic(), time.monotonic()
    while have < size:
        count = min(BATCH, size - have)
        body = {"faces": [{"embedding": row} for row in unit_rows(rng, count).round(6).tolist()]}
        response = server.session.post(server.url + "/faces", json=body, timeout=300)
        response.raise_for_status()
        have += len(response.json()["created"])
        if time.monotonic() - last_report > 30:
            print(f"  filling: {have:,} of {size:,} ({have / (time.monotonic() - started):.0f} identities/s)",
                  flush=True)
            last_report = time.monotonic()
    if time.monotonic() - started > 1:
        print(f"filled to {have:,} in {time.monotonic() - started:.0f} s")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def writes(server: "Server", rng, count: int) -> None:
    enrolls, hashes = [], []
    for row in unit_rows(rng, count).tolist():
        elapsed, response = timed(lambda: server.session.post(server.url + "/faces", json={"faces": [{"embedding": row}]},
                                                               timeout=60))
        enrolls.append(elapsed)
        hashes.append(response.json()["created"][0]["hash"])
    renames = [timed(lambda: server.session.patch(f"{server.url}/faces/{h}", json={"name": "renamed"}, timeout=60))[0]
               for h in hashes[: count // 4]]
    deletes = [timed(lambda: server.session.delete(f"{server.url}/faces/{h}", timeout=60))[0]
               for h in hashes[count // 4 : count // 2]]
    print(f"enroll one face (POST /faces):  {percentiles(enrolls)}  ({len(enrolls)} requests)")
    print(f"rename (PATCH /faces/<hash>):   {percentiles(renames)}  ({len(renames)} requests)")
    print(f"delete (DELETE /faces/<hash>):  {percentiles(deletes)}  ({len(deletes)} requests)")


class FramePoller:
    """Polls /hash every 10 ms and keeps (analysed count, analysed_at) of each new result."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.results: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name="hash-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            body = session.get(self._url + "/hash", timeout=10).json()
            if body["analysed"]:
                self.results[body["analysed"]] = body["analysed_at"]
            self._stop.wait(0.01)

    def gaps(self, since: float, until: float) -> list[float]:
        """Seconds between consecutive analysed frames in [since, until] (only pairs both seen)."""
        seen = sorted((n, t) for n, t in self.results.items() if since <= t <= until)
        return [b[1] - a[1] for a, b in zip(seen, seen[1:]) if b[0] == a[0] + 1]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def clip_seconds() -> float:
    import cv2

    capture = cv2.VideoCapture(str(CLIP))
    seconds = capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return seconds


def pauses(server: "Server", rng) -> None:
    """Quiet and busy windows of two whole loops of the clip each, so both see the same scenes: how
    long a frame takes to analyse depends on how many faces it shows."""
    window = 2 * clip_seconds()
    poller = FramePoller(server.url)
    try:
        time.sleep(1.0)
        quiet_from = time.time()
        time.sleep(window)
        busy_from = time.time()
        enrolled = 0
        for row in unit_rows(rng, 20).tolist():  # spread over the window, among many analysed frames
            server.session.post(server.url + "/faces", json={"faces": [{"embedding": row}]}, timeout=60).raise_for_status()
            enrolled += 1
            time.sleep(max(0.0, busy_from + enrolled * window / 20 - time.time()))
        busy_until = time.time()
    finally:
        poller.stop()
    quiet, busy = poller.gaps(quiet_from, busy_from), poller.gaps(busy_from, busy_until)
    frame_ms = 1000 / 29.97
    if not quiet or not busy:
        print("recognition: too few analysed frames seen to measure gaps")
        return
    print(f"recognition while {enrolled} people were enrolled ({(busy_until - busy_from):.1f} s): longest gap "
          f"{max(busy) * 1000:.0f} ms (median {statistics.median(busy) * 1000:.0f} ms) = "
          f"{max(busy) * 1000 / frame_ms:.1f} clip frame times; quiet baseline: longest {max(quiet) * 1000:.0f} ms "
          f"(median {statistics.median(quiet) * 1000:.0f} ms); longest busy / longest quiet = "
          f"{max(busy) / max(quiet):.2f}")


def store_alone(work: Path, rng, count: int) -> None:
    """With the server stopped, the store in this process: its own write cost (no HTTP, no duplicate
    check), then the previous release's store on the same identities: one sealed file, rewritten whole
    on every change."""
    from recognition.store import legacy
    from recognition.store.anchor import Anchor
    from recognition.store.atomic import write_atomically
    from recognition.store.identity import Identity
    from recognition.store.pickle_store import PickleStore

    opened, store = timed(lambda: PickleStore(work / "db", work / "keys" / "store.key"))
    with store:
        people = [Identity(hash=rng.bytes(32).hex(), model="Dlib", embeddings=[row]) for row in unit_rows(rng, count)]
        appends = [timed(lambda: store.add_many([person]))[0] for person in people]
        renames = [timed(lambda: store.rename(p.hash, "renamed"))[0] for p in people[: count // 4]]
        deletes = [timed(lambda: store.remove(p.hash))[0] for p in people[count // 4 :]]
        print(f"the store alone (in process, server stopped; opened in {opened:.2f} s):")
        print(f"  append one identity:  {percentiles(appends)}")
        print(f"  rename:               {percentiles(renames)}")
        print(f"  delete:               {percentiles(deletes)}")
        anchor = Anchor(store.anchor_path, store.data_dir)
        entry = anchor.read([store.key])
        updates = [timed(lambda: anchor.write(entry, store.key, [store.key]))[0] for _ in range(count)]
        print(f"  of each, the anchor's update ({len(entry.segments)} segments, "
              f"{store.anchor_path.stat().st_size / 1e3:.1f} kB): {percentiles(updates)}")
        anchored, bare = [], []  # the same appends, in turn with and without it: the same load for both
        for person in [Identity(hash=rng.bytes(32).hex(), model="Dlib", embeddings=[row]) for row in unit_rows(rng, count)]:
            if len(bare) < len(anchored):
                store._history.save = lambda *args, **kwargs: True  # the release before this one: no anchor
                bare.append(timed(lambda: store.add_many([person]))[0])
                del store._history.save
            else:
                anchored.append(timed(lambda: store.add_many([person]))[0])
        print(f"  append, in turn with the anchor's update and without (as before it): {percentiles(anchored)}; "
              f"without: {percentiles(bare)}; p50 ratio {statistics.median(anchored) / statistics.median(bare):.2f}")
        identities = store.identities()
        key, secret = store.key, store.secret
    path = work / "old-faces.pkl"
    write_seconds, _ = timed(lambda: write_atomically(path, legacy.encode(identities, key, secret)))
    read_seconds, _ = timed(lambda: legacy.decode(path.read_bytes(), [key], secret, str(path)))
    print(f"old store (one file, {path.stat().st_size / 1e6:.0f} MB): each write {write_seconds * 1000:.0f} ms, "
          f"during which recognition waited; opening {read_seconds:.2f} s")
    path.unlink()


class Server(ServerProcess):
    """run.py in a child process, with the fixture clip as its camera and a store in work/db."""

    def __init__(self, work: Path) -> None:
        from bench.parts import provision_weights

        self.work = work
        super().__init__(root=ROOT, clip=CLIP, data_dir=work / "db", key_file=work / "keys" / "store.key",
                         weights=provision_weights(work), log=work / "server.log", start_timeout=300)

    def restart(self) -> None:
        self.stop()
        self.start()

    def count(self) -> int:
        return self.session.get(self.url + "/faces?limit=0", timeout=60).json()["total"]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def store_open_seconds(self) -> float:
        lines = [line for line in self.log.read_text().splitlines() if "loaded" in line and "identities from" in line]
        return float(lines[-1].rsplit(" in ", 1)[1].split()[0]) if lines else float("nan")


if __name__ == "__main__":
    sys.exit(main())
