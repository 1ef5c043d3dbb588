"""Stream and recognition benchmark on the fixture clip, over real HTTP on 127.0.0.1.

Prints, against baselines measured in this same run:
- the frame rate each of 1, 3 and 5 viewers receives, as a ratio of the rate the source delivers;
- /hash latency while 5 viewers watch, as a ratio of its latency with nobody watching;
- JPEG encodes per published frame (1.0 means once per frame, whatever the number of viewers);
- the delay from Lin-Manuel Miranda appearing in the clip to /hash naming him, per loop of the clip,
  and every name /hash gave outside the frames where that person is on screen (should be none).

Run: make bench   (or FACE_FIXTURES=../shared/fixtures .venv/bin/python bench/stream_bench.py)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.conftest import FIXTURES, LiveServer  # noqa: E402
from tests.mjpeg_client import MjpegClient  # noqa: E402

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
ENROLL = {"Lin": "lin_manuel_miranda/lin1.png", "Alex": "alex_lacamoire/alex1.jpg", "Obama": "obama/obama1.jpg",
          "Biden": "biden/biden1.jpg"}
# Frames of the clip in which each person is on screen (looked at by eye); a name outside them is wrong.
ON_SCREEN = {"Lin": [(0, 24), (80, 212)], "Alex": [(20, 80)], "Obama": [(211, 274)], "Biden": []}
LIN_FIRST_FRONTAL = 82  # first frame after the cut in which Lin faces the camera


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
    from camera.capture import CaptureThread
    from camera.frames import FrameBuffer
    from camera.sources import parse_source
    from recognition.images import decode_image
    from recognition.pipeline import build_analyzer
    from recognition.store import FaceStore
    from recognition.weights import provision_dlib_weights
    from recognition.worker import RecognitionWorker
    from webapp import create_app
    from webapp.services import Services
    from webapp.stream import FEED

    work = Path(tempfile.mkdtemp(prefix="facebench-"))
    os.environ["DEEPFACE_HOME"] = str(work)
    weights = work / ".deepface" / "weights"
    provision_dlib_weights(weights)
    store = FaceStore(work / "db")
    analyzer = build_analyzer(store, "Dlib", weights)
    names = {}
    for name, photo in ENROLL.items():
        _, embeddings = analyzer.embed(decode_image((FIXTURES / "faces" / photo).read_bytes()))
        names[analyzer.matcher.enroll(embeddings[0], name).hash] = name

    frames = FrameBuffer(str(CLIP))
    capture = CaptureThread(parse_source(str(CLIP)), frames).start()
    worker = RecognitionWorker(frames, analyzer).start()
    services = Services(store=store, analyzer=analyzer, frames=frames, worker=worker, max_viewers=16)
    app = create_app(services)
    server = LiveServer(app, threads=24)
    try:
        while frames.latest is None:
            time.sleep(0.05)
        base_fps = source_fps(frames)
        print(f"source delivers {base_fps:.2f} fps (clip is 29.97 fps); recognition running beside it")
        base_median, base_p95 = hash_latency_ms(server.url)
        print(f"/hash with no viewers: median {base_median:.1f} ms, p95 {base_p95:.1f} ms")
        feed = app.extensions[FEED]
        for count in (1, 3, 5):
            encoded, published = feed.encoded, frames.latest.seq
            rates = viewer_fps(server.url, count)
            ratio = min(rates) / base_fps
            per_frame = (feed.encoded - encoded) / max(1, frames.latest.seq - published)
            print(f"{count} viewer(s): each gets {', '.join(f'{r:.1f}' for r in rates)} fps "
                  f"(slowest/source = {ratio:.2f}); JPEG encodes per frame {per_frame:.2f}")
        watchers = [MjpegClient(server.url + "/streaming") for _ in range(5)]
        stop = threading.Event()
        drains = [threading.Thread(target=lambda c=c: [c.next_part() for _ in iter(lambda: stop.is_set(), True)])
                  for c in watchers]
        for thread in drains:
            thread.start()
        busy_median, busy_p95 = hash_latency_ms(server.url)
        stop.set()
        for thread in drains:
            thread.join(5)
        for client in watchers:
            client.close()
        print(f"/hash while 5 viewers watch: median {busy_median:.1f} ms, p95 {busy_p95:.1f} ms "
              f"(x{busy_median / base_median:.2f} of idle median)")
        print(f"recognition analysed {worker.analysed} frames in this run")
        measure_naming(server.url, names, base_fps)
    finally:
        services.stopping.set()
        worker.stop()
        capture.stop()
        server.close()
    return 0


def measure_naming(url: str, names: dict, fps: float, loops: int = 2) -> None:
    """Poll /hash every 20 ms over whole loops of the clip."""
    delays, wrong, seen_loops = [], [], 0
    named_in_loop = False
    last_index = None
    deadline = time.time() + loops * 275 / 29.97 + 12
    while time.time() < deadline and seen_loops <= loops:
        body = get_json(url + "/hash")
        index = body["source_frame"]
        if index is None:
            time.sleep(0.02)
            continue
        if last_index is not None and index < last_index - 100:  # the clip looped
            seen_loops += 1
            named_in_loop = False
        last_index = index
        for face in body["faces"]:
            name = names.get(face["hash"])
            if name and not any(lo <= index <= hi for lo, hi in ON_SCREEN[name]):
                wrong.append((index, name))
        if seen_loops >= 1 and not named_in_loop and index >= LIN_FIRST_FRONTAL and body["name"] == "Lin":
            # When frame LIN_FIRST_FRONTAL was captured, from the analysed frame's own capture time.
            appeared = body["captured_at"] - (index - LIN_FIRST_FRONTAL) / fps
            delays.append(time.time() - appeared)
            named_in_loop = True
        time.sleep(0.02)
    shown = ", ".join(f"{d:.2f}" for d in delays) or "never"
    print(f"Lin appears frontal at frame {LIN_FIRST_FRONTAL}: /hash named him {shown} s later (one figure per loop)")
    print(f"names given outside the frames where that person is on screen: {len(wrong)} {wrong[:5]}")


if __name__ == "__main__":
    sys.exit(main())
