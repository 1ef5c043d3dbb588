"""Many cameras, one server, against the same cameras as separate servers: real servers (run.py in child
processes), each camera a clip played at its own rate, one viewer per camera.

The cameras: four doors, 640x480 at 15 fps, each an empty scene for 2 to 5 s and then two enrolled people
side by side for 10 s, looped (camera_like: sensor noise, a slight sway); and a street crowd at
1920x1080, 25 fps (tests/crowd.py, nobody enrolled). Five people are enrolled, each from another photo
than the cameras show.

For one server watching all five (--camera ..., its default --recognition-cores) and for five servers
of one camera each, run at once on the same machine, it prints per camera:
- the rate its viewer gets, as a ratio of the source's;
- analysed frames a second;
- for the doors, the time from the frame where the two people appear to the first result naming both
  (from /hash/<camera>: the result's analysed_at, less the capture time of that frame, which the
  looping file's position and rate give), at every appearance in the window;
and for the whole: cores used (every process, the model processes included) and memory held (the
resident set of every process, summed).

Run: make bench-cameras   (or .venv/bin/python bench/cameras_bench.py [--seconds 30])
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live_bench import _children, _fit, camera_like, cpu_seconds  # noqa: E402
from bench.parts import FIXTURES, ServerProcess, provision_weights  # noqa: E402
from tests.support.mjpeg_client import MjpegClient  # noqa: E402

ENROLL = {"Barack": "obama/obama3.jpg", "Joe": "biden/biden2.jpg", "Kit": "kit_harington/kit2.jpg",
          "Rose": "rose_leslie/rose2.jpg", "Alex": "alex_lacamoire/alex2.png"}
# name -> (the two people it shows: (name, photo) each, seconds of empty scene before they come in)
DOORS = {"door": ((("Barack", "obama/obama1.jpg"), ("Joe", "biden/biden1.jpg")), 2),
         "garden": ((("Kit", "kit_harington/kit1.jpg"), ("Rose", "rose_leslie/rose1.jpg")), 3),
         "hall": ((("Alex", "alex_lacamoire/alex1.jpg"), ("Barack", "obama/obama2.jpg")), 4),
         "porch": ((("Kit", "kit_harington/kit3.jpg"), ("Joe", "biden/biden1.jpg")), 5)}
DOOR_FPS, CROWD_FPS = 15.0, 25.0
MB = 1024 * 1024


@dataclass
class Camera:
    name: str
    clip: Path
    fps: float
    names: frozenset = frozenset()
    appears_at: int = 0  # the clip's frame where the people come in


@dataclass
class Figures:
    rate: float = 0.0
    analysed: float = 0.0
    named_after: list = field(default_factory=list)


def cameras(work: Path) -> list[Camera]:
    from recognition.images import decode_image
    from tests.crowd import CrowdScene

    def photo(relative):
        return decode_image((FIXTURES / "faces" / relative).read_bytes())

    made = []
    for name, (people, empty_for) in DOORS.items():
        pair = np.hstack([_fit(photo(path), (320, 480)) for _, path in people])
        clip = camera_like(work / f"{name}.avi", pair, seconds=10, fps=DOOR_FPS, size=(640, 480), empty_for=empty_for)
        made.append(Camera(name, clip, DOOR_FPS, frozenset(person for person, _ in people), int(empty_for * DOOR_FPS)))
    made.append(Camera("crowd", CrowdScene(seed=5).write(work / "crowd.avi", 12.0), CROWD_FPS))
    return made


class Server(ServerProcess):
    def __init__(self, work: Path, label: str, watched: list[Camera], weights: Path) -> None:
        data = work / label
        super().__init__(root=ROOT, clip=watched[0].clip, data_dir=data, key_file=work / f"{label}.key",
                         weights=weights, log=work / f"{label}.log", start_timeout=300)
        self.env["FACE_CAMERAS"] = ";".join(f"{camera.name}={camera.clip}" for camera in watched)
        self.watched = watched

    def processes(self) -> list[int]:
        return [self.process.pid] + _children(self.process.pid)

    def enroll(self) -> None:
        for name, photo in ENROLL.items():
            with open(FIXTURES / "faces" / photo, "rb") as handle:
                self.session.post(self.url + "/enroll", files={"image": handle}, data={"name": name},
                                  timeout=120).raise_for_status()

    def now(self, camera: str) -> dict:
        return self.session.get(f"{self.url}/hash/{camera}", timeout=10).json()


def resident_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total / MB


def measure(servers: list[Server], seconds: float) -> tuple[dict, float, float]:
    """({camera: Figures}, cores used, MB held) over seconds, one viewer per camera and a poller per door."""
    stop = threading.Event()
    figures = {camera.name: Figures() for server in servers for camera in server.watched}
    counts = dict.fromkeys(figures, 0)
    threads = []

    def view(server, camera):
        client = MjpegClient(f"{server.url}/streaming/{camera.name}")
        try:
            while not stop.is_set():
                client.next_part()
                counts[camera.name] += 1
        except (OSError, AttributeError, EOFError):
            pass
        finally:
            client.close()

    def follow_names(server, camera):
        armed = False
        while not stop.is_set():
            now = server.now(camera.name)
            frame = (now.get("source_frame") or 1) - 1  # the file's position after the analysed frame was read
            named = {face["name"] for face in now["faces"] if face["known"]}
            if frame < camera.appears_at:
                armed = True  # the empty scene: the next naming of both is a new appearance
            elif armed and camera.names <= named:
                appeared = now["captured_at"] - (frame - camera.appears_at) / camera.fps
                figures[camera.name].named_after.append(now["analysed_at"] - appeared)
                armed = False
            stop.wait(0.05)

    for server in servers:
        for camera in server.watched:
            threads.append(threading.Thread(target=view, args=(server, camera), daemon=True))
            if camera.names:
                threads.append(threading.Thread(target=follow_names, args=(server, camera), daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # the viewers settle
    pids = [pid for server in servers for pid in server.processes()]
    start_counts, start_cpu, started = dict(counts), cpu_seconds(pids), time.monotonic()
    start_analysed = {camera.name: server.now(camera.name)["analysed"] for server in servers for camera in server.watched}
    held = 0.0
    while time.monotonic() - started < seconds:
        held = max(held, resident_mb(pids))
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    cores = (cpu_seconds(pids) - start_cpu) / elapsed
    for server in servers:
        for camera in server.watched:
            figures[camera.name].rate = (counts[camera.name] - start_counts[camera.name]) / elapsed
            figures[camera.name].analysed = (server.now(camera.name)["analysed"] - start_analysed[camera.name]) / elapsed
    stop.set()
    for thread in threads:
        thread.join(15)
    return figures, cores, held


def run(label: str, servers: list[Server], seconds: float) -> tuple[dict, float, float]:
    try:
        for server in servers:  # one after another: five model processes loading at once only slow each other
            server.start()
            server.enroll()
        return measure(servers, seconds)
    finally:
        for server in servers:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each measurement watches")
    parser.add_argument("--cores", default="", help="--recognition-cores for the one server (default: its own)")
    parser.add_argument("--one-only", action="store_true", help="measure the one server only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="camerasbench-"))
    weights = provision_weights(work)
    watched = cameras(work)
    print(f"{len(watched)} cameras: {', '.join(f'{c.name} ({c.fps:g} fps)' for c in watched)}; "
          f"{args.seconds:g} s measured with one viewer each")
    server = Server(work, "one", watched, weights)
    if args.cores:
        server.env["FACE_RECOGNITION_CORES"] = args.cores
    results = {f"one server{f', {args.cores} cores' if args.cores else ''}": run("one", [server], args.seconds)}
    if not args.one_only:
        results["separate servers"] = run("apart", [Server(work, f"apart-{c.name}", [c], weights) for c in watched],
                                          args.seconds)
    report(watched, results)
    return 0


def report(watched: list[Camera], results: dict) -> None:
    labels = list(results)
    print(f"\n{'camera':<8} | " + " | ".join(f"{label:^38}" for label in labels))
    print(f"{'':<8} | " + " | ".join(f"{'viewer/source':>13} {'analysed/s':>10} {'named after s':>13}" for _ in labels))
    for camera in watched:
        cells = []
        for label in labels:
            figures = results[label][0][camera.name]
            named = (f"{max(figures.named_after):.2f} max" if figures.named_after else "never") if camera.names else "-"
            cells.append(f"{figures.rate / camera.fps:>13.2f} {figures.analysed:>10.1f} {named:>13}")
        print(f"{camera.name:<8} | " + " | ".join(cells))
    for label in labels:
        figures, cores, held = results[label]
        all_named = [t for f in figures.values() for t in f.named_after]
        worst = min(f.rate / c.fps for f, c in zip((figures[c.name] for c in watched), watched))
        print(f"{label}: {cores:.2f} cores, {held:.0f} MB held at most; the worst viewer gets {worst:.2f} of its "
              f"source; names after appearing: median {statistics.median(all_named) if all_named else float('nan'):.2f} s, "
              f"max {max(all_named) if all_named else float('nan'):.2f} s over {len(all_named)} appearances")
    if len(labels) < 2:
        return
    one, apart = results[labels[0]], results[labels[1]]
    print(f"memory: {one[2]:.0f} MB against {apart[2]:.0f} MB ({one[2] / apart[2]:.2f}x); cores: {one[1]:.2f} "
          f"against {apart[1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
