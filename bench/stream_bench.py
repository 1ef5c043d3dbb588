"""Stream and recognition benchmark on the fixture clip, over real HTTP on 127.0.0.1.

Prints, against baselines measured in this same run:
- the frame rate each of 1, 3 and 5 viewers receives, as a ratio of the rate the source delivers;
- /hash latency while 5 viewers watch, as a ratio of its latency with nobody watching;
- JPEG encodes per published frame (1.0 means once per frame, whatever the number of viewers);
- the delay from an enrolled person appearing to /hash naming him, per loop, and every name /hash
  gave where that person is not on screen (should be none): on the fixture clip (Lin-Manuel Miranda
  among strangers) and on a clip made of other photos of two enrolled people between two strangers.

Run: make bench   (or FACE_FIXTURES=../shared/fixtures .venv/bin/python bench/stream_bench.py)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.parts import FIXTURES  # noqa: E402
from tests.support.server_thread import ServerThread as LiveServer  # noqa: E402
from tests.support.mjpeg_client import MjpegClient  # noqa: E402

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
ENROLL = {"Lin": "lin_manuel_miranda/lin1.png", "Alex": "alex_lacamoire/alex1.jpg", "Obama": "obama/obama1.jpg",
          "Biden": "biden/biden1.jpg"}


@dataclass(frozen=True)
class Scenario:
    """A clip, the frames in which each enrolled person is on screen (a name outside them is wrong),
    and the frame from which each should be named."""

    title: str
    clip: Path
    frames: int
    on_screen: dict
    appears: dict


# The fixture clip, looked at by eye: Lin on stage (frames 0-24) and facing the camera (80-212), Alex
# in profile (20-80), the audience with Obama (211-274); Biden never appears.
HAMILTON = Scenario("fixture clip", CLIP, 275, {"Lin": [(0, 24), (80, 212)], "Alex": [(20, 80)],
                                               "Obama": [(211, 274)], "Biden": []}, {"Lin": 82})
PHOTO_FPS, PHOTO_SECONDS = 25, 2.0
PHOTO_SEGMENTS = ["kit_harington/kit1.jpg", "obama/obama2.jpg", "biden/biden2.jpg", "rose_leslie/rose1.jpg"]


def photo_scenario(folder: Path) -> Scenario:
    """Other photos of two enrolled people between two strangers, 2 s each, as a camera would show them."""
    from tests.support.clips import write_clip
    from recognition.images import decode_image

    photos = [decode_image((FIXTURES / "faces" / p).read_bytes()) for p in PHOTO_SEGMENTS]
    clip = write_clip(folder / "photos.avi", photos, seconds_each=PHOTO_SECONDS, fps=PHOTO_FPS)
    step = int(PHOTO_FPS * PHOTO_SECONDS)
    return Scenario("photo clip (Kit, Obama, Biden, Rose; Kit and Rose never enrolled)", clip, 4 * step,
                    {"Obama": [(step, 2 * step - 1)], "Biden": [(2 * step, 3 * step - 1)], "Lin": [], "Alex": []},
                    {"Obama": step, "Biden": 2 * step})


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def hash_latency_ms(url: str, count: int = 40) -> tuple[float, float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        get_json(url + "/hash")
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def source_fps(frames, seconds: float = 3.0) -> float:
    first = frames.latest.seq
    time.sleep(seconds)
    return (frames.latest.seq - first) / seconds


def viewer_fps(url: str, viewers: int, seconds: float = 4.0) -> list[float]:
    clients = [MjpegClient(url + "/streaming") for _ in range(viewers)]
    rates = [0.0] * viewers

    def watch(index):
        rates[index] = len(clients[index].parts_for(seconds)) / seconds

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(viewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return rates


def main() -> int:
    if not CLIP.exists():
        print(f"fixture clip not found at {CLIP}; set FACE_FIXTURES")
        return 1
    from bench.parts import scratch_parts
    from recognition.images import decode_image

    work, store, analyzer = scratch_parts("facebench-")
    names = {}
    for name, photo in ENROLL.items():
        _, embeddings = analyzer.embed(decode_image((FIXTURES / "faces" / photo).read_bytes()))
        names[analyzer.matcher.enroll(embeddings[0], name).hash] = name

    running = serve(CLIP, store, analyzer)
    server, app, frames, worker = running.server, running.app, running.services.frames, running.services.worker
    try:
        base_fps = source_fps(frames)
        print(f"source delivers {base_fps:.2f} fps (clip is 29.97 fps); recognition running beside it")
        base_median, base_p95 = hash_latency_ms(server.url)
        print(f"/hash with no viewers: median {base_median:.1f} ms, p95 {base_p95:.1f} ms")
        feed = running.services.camera().feed
        for count in (1, 3, 5):
            encoded, published = feed.encoded, frames.latest.seq
            rates = viewer_fps(server.url, count)
            ratio = min(rates) / base_fps
            per_frame = (feed.encoded - encoded) / max(1, frames.latest.seq - published)
            print(f"{count} viewer(s): each gets {', '.join(f'{r:.1f}' for r in rates)} fps "
                  f"(slowest/source = {ratio:.2f}); JPEG encodes per frame {per_frame:.2f}")
        busy_median, busy_p95 = hash_latency_while_watching(server.url, viewers=5)
        print(f"/hash while 5 viewers watch: median {busy_median:.1f} ms, p95 {busy_p95:.1f} ms "
              f"(x{busy_median / base_median:.2f} of idle median)")
        print(f"recognition analysed {worker.analysed} frames so far")
        measure_naming(server.url, names, base_fps, HAMILTON)
    finally:
        running.stop()
    scenario = photo_scenario(work)
    running = serve(scenario.clip, store, analyzer)
    try:
        measure_naming(running.server.url, names, PHOTO_FPS, scenario)
    finally:
        running.stop()
        analyzer.embedder.stop()
    return 0


def serve(clip: Path, store, analyzer):
    """Capture, recognition and a real server for one clip, as run.py builds them."""
    from camera.capture import CaptureThread
    from camera.frames import FrameBuffer
    from camera.sources import parse_source
    from recognition.live.worker import RecognitionWorker
    from webapp import create_app
    from webapp.parts import Parts

    frames = FrameBuffer(str(clip))
    capture = CaptureThread(parse_source(str(clip)), frames).start()
    worker = RecognitionWorker(frames, analyzer).start()
    services = Parts.build(store=store, analyzer=analyzer, frames=frames, worker=worker, max_viewers=16)
    app = create_app(services)
    server = LiveServer(app)
    if frames.wait_newer(0, timeout=30) is None:
        raise RuntimeError(f"{clip} delivered no frame within 30 s: {frames.status}")
    return Running(services, server, app, capture)


@dataclass(frozen=True)
class Running:
    services: object
    server: LiveServer
    app: object
    capture: object

    def stop(self) -> None:
        self.server.close()
        self.services.worker.stop()
        self.capture.stop()


def hash_latency_while_watching(url: str, viewers: int) -> tuple[float, float]:
    watchers = [MjpegClient(url + "/streaming") for _ in range(viewers)]
    done = threading.Event()

    def drain(client):
        while not done.is_set():
            client.next_part()

    threads = [threading.Thread(target=drain, args=(c,)) for c in watchers]
    for thread in threads:
        thread.start()
    try:
        return hash_latency_ms(url)
    finally:
        done.set()
        for thread in threads:
            thread.join(5)
        for client in watchers:
            client.close()


def measure_naming(url: str, names: dict, fps: float, scenario: Scenario, loops: int = 2) -> None:
    """Poll /hash every 20 ms over whole loops of the clip: how long after each person appears is
    he named, and is anyone ever named where he is not on screen?"""
    delays = {name: [] for name in scenario.appears}
    wrong, loop, last_index, named = [], 0, None, set()
    deadline = time.time() + (loops + 1) * scenario.frames / fps + 10
    while time.time() < deadline and loop <= loops:
        body = get_json(url + "/hash")
        index = body["source_frame"]
        if index is None:
            time.sleep(0.02)
            continue
        if last_index is not None and index < last_index - scenario.frames // 3:  # the clip looped
            loop, named = loop + 1, set()
        last_index = index
        for face in body["faces"]:
            name = names.get(face["hash"])
            if name and not any(lo <= index <= hi for lo, hi in scenario.on_screen[name]):
                wrong.append((index, name))
            # Timed from the second pass on: the first may start in the middle of an appearance.
            first = scenario.appears.get(name)
            if loop >= 1 and name not in named and first is not None and index >= first:
                appeared = body["captured_at"] - (index - first) / fps  # when frame `first` was captured
                delays[name].append(time.time() - appeared)
                named.add(name)
        time.sleep(0.02)
    print(f"{scenario.title}:")
    for name, first in scenario.appears.items():
        shown = ", ".join(f"{d:.2f}" for d in delays[name]) or "never"
        print(f"  {name} appears at frame {first}: /hash named him {shown} s later (one figure per loop)")
    print(f"  names given where that person is not on screen: {len(wrong)} {wrong[:5]}")


if __name__ == "__main__":
    sys.exit(main())
