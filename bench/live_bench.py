"""What the live loop costs: a real server (run.py in a child process) with a clip as its camera.

For each scenario it prints:
- the frame rate viewers receive (1 and 3 at once) as a ratio of the clip's own;
- the CPU the server uses, in cores, counting all its processes (the model process included);
- analysed frames per second;
- time to the first correct name: from the first /hash that shows a face to the first that names
  everyone expected.

Scenarios: the fixture clip (640x360, 29.97 fps) with Lin-Manuel Miranda enrolled; two enrolled people
side by side, 640x480 at 15 fps (a door camera); the same at 1920x1080, 25 fps (an HD camera).
--root DIR runs the server of another checkout (an older commit, say) on the same scenarios, so two
versions can be compared in one sitting.

Run: make bench-live   (or .venv/bin/python bench/live_bench.py [--root DIR] [--seconds 8])
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.parts import FIXTURES, provision_weights  # noqa: E402
from webapp.mjpeg_client import MjpegClient  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    title: str
    clip: Path
    fps: float
    enroll: dict  # name -> photo (another photo than the clip shows)


def scenarios(work: Path) -> list[Scenario]:
    from recognition.images import decode_image

    def photo(relative):
        return decode_image((FIXTURES / "faces" / relative).read_bytes())

    pair = np.hstack([_fit(photo("obama/obama1.jpg"), (320, 480)), _fit(photo("biden/biden1.jpg"), (320, 480))])
    door = camera_like(work / "door.avi", pair, seconds=30, fps=15, size=(640, 480))
    hd = camera_like(work / "hd.avi", pair, seconds=20, fps=25, size=(1920, 1080))
    two = {"Barack": "obama/obama3.jpg", "Joe": "biden/biden2.jpg"}
    return [Scenario("fixture clip 640x360 29.97 fps, Lin enrolled", FIXTURES / "video" / "short_hamilton_clip.mp4",
                     29.97, {"Lin": "lin_manuel_miranda/lin1.png"}),
            Scenario("two known people, 640x480 15 fps", door, 15.0, two),
            Scenario("two known people, 1920x1080 25 fps", hd, 25.0, two)]


def camera_like(path: Path, picture: np.ndarray, *, seconds: float, fps: float, size: tuple[int, int]) -> Path:
    """A video of a still picture as a camera films it: sensor noise in every frame and people who sway
    a few pixels, so that nothing in the loop can take the frames for identical."""
    import cv2

    base = _fit(picture, size)
    rng = np.random.default_rng(7)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for index in range(int(seconds * fps)):
        dx, dy = 4 * np.sin(index / 7.0), 3 * np.cos(index / 11.0)
        moved = cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, dy]]), size, borderMode=cv2.BORDER_REPLICATE)
        noisy = np.clip(moved.astype(np.int16) + rng.normal(0, 3, moved.shape).astype(np.int16), 0, 255)
        writer.write(noisy.astype(np.uint8))
    writer.release()
    return path


def _fit(image, size):
    from camera.clips import letterbox

    return letterbox(image, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose run.py serves")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each measurement watches")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="livebench-"))
    weights = provision_weights(work)
    print(f"server code: {args.root}")
    for scenario in scenarios(work):
        measure(scenario, args.root, work, weights, args.seconds)
    return 0


def measure(scenario: Scenario, root: Path, work: Path, weights: Path, seconds: float) -> None:
    print(f"\n== {scenario.title} ==")
    server = Server(root, scenario.clip, work / scenario.clip.stem, weights)
    try:
        server.start()
        for name, photo in scenario.enroll.items():
            with open(FIXTURES / "faces" / photo, "rb") as handle:
                server.session.post(server.url + "/enroll", files={"image": handle}, data={"name": name},
                                    timeout=60).raise_for_status()
        print(f"time to the first correct name: {time_to_names(server, set(scenario.enroll)):.2f} s")
        cores, analysed = server.usage(seconds)
        shown = f"{analysed:.1f}" if analysed is not None else "n/a (this version does not say)"
        print(f"no viewer: {cores:.2f} cores, {shown} analysed frames/s")
        for viewers in (1, 3):
            rates, cores = watch(server, viewers, seconds)
            print(f"{viewers} viewer(s): each gets {', '.join(f'{r:.1f}' for r in rates)} fps = "
                  f"{min(rates) / scenario.fps:.2f} of the source's {scenario.fps:g}; {cores:.2f} cores")
    finally:
        server.stop()


def time_to_names(server: "Server", names: set, timeout: float = 60.0) -> float:
    """Seconds from the first /hash showing a face to the first naming everyone expected (looping clips
    show them again; the first appearance after enrollment counts)."""
    first_face, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = server.session.get(server.url + "/hash", timeout=10).json()
        now = time.monotonic()
        if body["faces"] and first_face is None:
            first_face = now
        if first_face is not None and names <= {f["name"] for f in body["faces"]}:
            return now - first_face
        time.sleep(0.02)
    return float("nan")


def watch(server: "Server", viewers: int, seconds: float) -> tuple[list[float], float]:
    clients = [MjpegClient(server.url + "/streaming") for _ in range(viewers)]
    counts = [0] * viewers
    stop = threading.Event()

    def drain(index):
        try:
            while not stop.is_set():
                clients[index].next_part()
                counts[index] += 1
        except (OSError, AttributeError, EOFError):  # closed under it at the end
            pass

    threads = [threading.Thread(target=drain, args=(i,), daemon=True) for i in range(viewers)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # let the viewers settle
    start_counts = list(counts)
    cores, _ = server.usage(seconds)
    rates = [(counts[i] - start_counts[i]) / seconds for i in range(viewers)]
    stop.set()
    for client in clients:
        client.close()
    for thread in threads:
        thread.join(5)
    return rates, cores


class Server:
    def __init__(self, root: Path, clip: Path, data: Path, weights: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.with_suffix(".log")
        self.env = dict(os.environ, FACE_SOURCE=str(clip), FACE_PORT=str(self.port), FACE_DATA_DIR=str(data),
                        FACE_KEY_FILE=str(data.parent / f"{data.name}.key"), FACE_MODEL="Dlib", FACE_OFFLINE="1",
                        DEEPFACE_HOME=str(weights.parent.parent), TF_CPP_MIN_LOG_LEVEL="3")
        self.session = requests.Session()
        self.process = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([sys.executable, str(self.root / "run.py")], cwd=self.root, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-2000:])
            try:
                if self.session.get(self.url + "/hash", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer within 180 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def usage(self, seconds: float) -> tuple[float, float]:
        """(cores used by the server and its children, analysed frames per second) over seconds."""
        before_cpu, before_frames, started = self._cpu(), self._analysed(), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        after_frames = self._analysed()
        analysed = None if after_frames is None else (after_frames - before_frames) / elapsed
        return (self._cpu() - before_cpu) / elapsed, analysed

    def _analysed(self):
        """How many frames recognition has analysed (None from a version whose /hash does not say)."""
        return self.session.get(self.url + "/hash", timeout=10).json().get("analysed")

    def _cpu(self) -> float:
        total = 0.0
        for pid in [self.process.pid] + _children(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
