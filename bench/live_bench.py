"""What the live loop costs: a real server (run.py in a child process) with a clip as its camera.

For each scenario it prints:
- the frame rate viewers receive (1 and 3 at once) as a ratio of the clip's own;
- the CPU the server uses, in cores, counting all its processes (the model process included);
- analysed frames per second;
- time to the first correct name, at three appearances: from the moment a viewer of /streaming is
  shown the frame where they appear (each streamed frame is matched to the clip's frames) to the first
  /hash that names everyone expected (polled every 20 ms).

Scenarios: the fixture clip (640x360, 29.97 fps, 9 s looped) with Lin-Manuel Miranda enrolled; a door
camera, 640x480 at 15 fps, showing an empty scene for 2 s and then two enrolled people side by side for
10 s, looped; the same at 1920x1080, 25 fps (an HD camera); a street crowd at 1920x1080, 25 fps (tests/crowd.py:
about six fixture faces 50 to 120 px tall walking towards the camera, nobody enrolled), plain and with
--blur unknown; avatars instead of pixels (--hide-with avatar) and a filter's stream (?filter=) at 640x480
and on the crowd, against plain boxes. Costs are measured while everyone expected is named (the fixture clip: whatever it shows
in the following seconds). For the crowd it also prints the share of faces an independent detector
(dlib's HOG at full resolution, upsampled once) still finds in streamed frames, against the same frames
of the clip as the camera gave them.
--root DIR runs the server of another checkout (an older commit, say) on the same scenarios, so two
versions can be compared in one sitting.

Run: make bench-live   (or .venv/bin/python bench/live_bench.py [--root DIR] [--seconds 6])
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.parts import FIXTURES, ServerProcess, provision_weights  # noqa: E402
from tests.support.mjpeg_client import MjpegClient  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    title: str
    clip: Path
    fps: float
    enroll: dict  # name -> photo (another photo than the clip shows)
    appears_at: int  # the frame of the clip where they come into view
    env: tuple = ()  # settings of the server, as (FACE_..., value) pairs
    stream: str = "/streaming"  # what viewers watch (a filter's stream: /streaming?filter=hat)


def scenarios(work: Path) -> list[Scenario]:
    from recognition.images import decode_image

    def photo(relative):
        return decode_image((FIXTURES / "faces" / relative).read_bytes())

    pair = np.hstack([_fit(photo("obama/obama1.jpg"), (320, 480)), _fit(photo("biden/biden1.jpg"), (320, 480))])
    door = camera_like(work / "door.avi", pair, seconds=10, fps=15, size=(640, 480), empty_for=2)
    hd = camera_like(work / "hd.avi", pair, seconds=10, fps=25, size=(1920, 1080), empty_for=2)
    two = {"Barack": "obama/obama3.jpg", "Joe": "biden/biden2.jpg"}
    from tests.crowd import CrowdScene

    crowd = CrowdScene(seed=5).write(work / "crowd.avi", 12.0)
    # In the fixture clip Lin-Manuel Miranda turns to the camera at frame 82, after 2 s of Alex Lacamoire.
    return [Scenario("fixture clip 640x360 29.97 fps, Lin enrolled", FIXTURES / "video" / "short_hamilton_clip.mp4",
                     29.97, {"Lin": "lin_manuel_miranda/lin1.png"}, appears_at=82),
            Scenario("two known people, 640x480 15 fps", door, 15.0, two, appears_at=2 * 15),
            Scenario("two known people, 640x480 15 fps, --blur unknown", door, 15.0, two, appears_at=2 * 15,
                     env=(("FACE_BLUR", "unknown"),)),
            Scenario("two known people, 640x480 15 fps, ?filter=sunglasses", door, 15.0, two, appears_at=2 * 15,
                     stream="/streaming?filter=sunglasses"),
            Scenario("two known people, 640x480 15 fps, --blur all --hide-with avatar", door, 15.0, two,
                     appears_at=2 * 15, env=(("FACE_BLUR", "all"), ("FACE_HIDE_WITH", "avatar"))),
            Scenario("two known people, 1920x1080 25 fps", hd, 25.0, two, appears_at=2 * 25),
            Scenario("street crowd, 1920x1080 25 fps, nobody enrolled", crowd, 25.0, {}, appears_at=0),
            Scenario("street crowd, 1920x1080 25 fps, nobody enrolled, --blur unknown", crowd, 25.0, {}, appears_at=0,
                     env=(("FACE_BLUR", "unknown"),)),
            Scenario("street crowd, 1920x1080 25 fps, nobody enrolled, --blur unknown --stream-width 1280", crowd, 25.0,
                     {}, appears_at=0, env=(("FACE_BLUR", "unknown"), ("FACE_STREAM_WIDTH", "1280"))),
            Scenario("street crowd, 1920x1080 25 fps, nobody enrolled, --blur unknown --hide-with avatar", crowd,
                     25.0, {}, appears_at=0, env=(("FACE_BLUR", "unknown"), ("FACE_HIDE_WITH", "avatar"))),
            Scenario("street crowd, 1920x1080 25 fps, nobody enrolled, ?filter=hat --filters all", crowd, 25.0, {},
                     appears_at=0, env=(("FACE_FILTERS", "all"),), stream="/streaming?filter=hat")]


def camera_like(path: Path, picture: np.ndarray, *, seconds: float, fps: float, size: tuple[int, int],
                empty_for: float) -> Path:
    """A video of a still picture as a camera films it, after empty_for seconds of an empty scene (the
    picture's colours, without a shape): sensor noise in every frame and people who sway a few pixels, so
    that nothing in the loop can take the frames for identical."""
    import cv2

    base = _fit(picture, size)
    small = cv2.resize(base, (16, max(1, 16 * size[1] // size[0])), interpolation=cv2.INTER_AREA)
    empty = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)  # the room's colours, nobody in it
    rng = np.random.default_rng(7)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    blank = int(empty_for * fps)
    for index in range(blank + int(seconds * fps)):
        dx, dy = 4 * np.sin(index / 7.0), 3 * np.cos(index / 11.0)
        shown = empty if index < blank else base
        moved = cv2.warpAffine(shown, np.float32([[1, 0, dx], [0, 1, dy]]), size, borderMode=cv2.BORDER_REPLICATE)
        noisy = np.clip(moved.astype(np.int16) + rng.normal(0, 3, moved.shape).astype(np.int16), 0, 255)
        writer.write(noisy.astype(np.uint8))
    writer.release()
    return path


def _fit(image, size):
    from tests.support.clips import letterbox

    return letterbox(image, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose run.py serves")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each measurement watches")
    parser.add_argument("--only", default="", help="run only the scenarios whose title contains this text")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="livebench-"))
    weights = provision_weights(work)
    print(f"server code: {args.root}")
    for scenario in scenarios(work):
        if args.only in scenario.title:
            measure(scenario, args.root, work, weights, args.seconds)
    return 0


def measure(scenario: Scenario, root: Path, work: Path, weights: Path, seconds: float) -> None:
    print(f"\n== {scenario.title} ==")
    data = work / f"{scenario.clip.stem}-{abs(hash(scenario.title)) % 10**8}"  # a store of its own per scenario
    server = Server(root, scenario.clip, data, weights)
    server.env.update(dict(scenario.env))
    try:
        server.start()
        for name, photo in scenario.enroll.items():
            with open(FIXTURES / "faces" / photo, "rb") as handle:
                server.session.post(server.url + "/enroll", files={"image": handle}, data={"name": name},
                                    timeout=60).raise_for_status()
        names, named_after, clock = set(scenario.enroll), [], ClipClock(scenario.clip)
        if names:
            named_after.append(time_to_names(server, names, clock, scenario.appears_at))
        cores, analysed = server.usage(seconds)
        shown = f"{analysed:.1f}" if analysed is not None else "n/a (this version does not say)"
        print(f"no viewer: {cores:.2f} cores, {shown} analysed frames/s")
        for viewers in (1, 3):
            if names:
                named_after.append(time_to_names(server, names, clock, scenario.appears_at))
            rates, cores, analysed = watch(server, viewers, seconds, scenario.stream)
            recognised = f"; {analysed:.1f} analysed frames/s" if analysed is not None else ""
            print(f"{viewers} viewer(s): each gets {', '.join(f'{r:.1f}' for r in rates)} fps = "
                  f"{min(rates) / scenario.fps:.2f} of the source's {scenario.fps:g}; {cores:.2f} cores{recognised}")
        if names:
            print(f"time to the first correct name after they appear: {', '.join(f'{t:.2f}' for t in named_after)} s")
        else:
            plain, streamed = faces_still_found(server, scenario.clip, clock)
            print(f"independent detector (dlib HOG, full resolution): {streamed} faces in the streamed frames, "
                  f"{plain} in the same frames as the camera gave them: {streamed / max(plain, 1):.3f} still found")
    finally:
        server.stop()


class ClipClock:
    """Which frame of the clip a streamed JPEG shows: the nearest of the clip's frames, as small grey
    thumbnails (the boxes drawn on the stream barely move them)."""

    SIZE = (64, 36)

    def __init__(self, clip: Path) -> None:
        import cv2

        capture, thumbs = cv2.VideoCapture(str(clip)), []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            thumbs.append(self._thumb(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)))
        capture.release()
        self._thumbs = np.stack(thumbs)

    def frame_of(self, jpeg: bytes) -> int:
        import cv2

        gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)
        return int(np.abs(self._thumbs - self._thumb(gray)).mean(axis=(1, 2)).argmin())

    def _thumb(self, gray: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.resize(gray, self.SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def time_to_names(server: "Server", names: set, clock: ClipClock, appears_at: int, timeout: float = 60.0) -> float:
    """Seconds from the moment a viewer is shown the clip's frame appears_at (coming from an earlier
    frame: the next time the looping clip gets there) to the first /hash naming everyone expected."""
    viewer, seen = MjpegClient(server.url + "/streaming"), {"before": False, "appeared": None}
    stop = threading.Event()

    def follow():
        try:
            while not stop.is_set() and seen["appeared"] is None:
                frame = clock.frame_of(viewer.next_part())
                if frame < appears_at:
                    seen["before"] = True
                elif seen["before"]:
                    seen["appeared"] = time.monotonic()
        except (OSError, AttributeError, EOFError):
            pass

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    unnamed_since_before, deadline = False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            named = {face["name"] for face in server.session.get(server.url + "/hash", timeout=10).json()["faces"]}
            now = time.monotonic()
            if seen["before"] and not names <= named:
                unnamed_since_before = True  # a name left over from the last appearance does not count
            elif unnamed_since_before and seen["appeared"] is not None and names <= named:
                return now - seen["appeared"]
            time.sleep(0.02)
        return float("nan")
    finally:
        stop.set()
        viewer.close()
        thread.join(5)


def faces_still_found(server: "Server", clip: Path, clock: ClipClock, count: int = 20) -> tuple[int, int]:
    """(faces HOG finds in the clip's frames, faces it finds in the streamed pictures of those frames),
    over count streamed frames a few apart."""
    import cv2
    import dlib

    hog = dlib.get_frontal_face_detector()
    capture, originals = cv2.VideoCapture(str(clip)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        originals.append(frame)
    capture.release()
    viewer = MjpegClient(server.url + "/streaming")
    pictures = []
    try:
        for _ in range(count):
            for _ in range(5):
                jpeg = viewer.next_part()
            pictures.append(jpeg)
    finally:
        viewer.close()
    plain = streamed = 0
    for jpeg in pictures:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        original = originals[clock.frame_of(jpeg)]
        if image.shape != original.shape:
            image = cv2.resize(image, (original.shape[1], original.shape[0]))
        plain += len(hog(cv2.cvtColor(original, cv2.COLOR_BGR2RGB), 1))
        streamed += len(hog(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), 1))
    return plain, streamed


def watch(server: "Server", viewers: int, seconds: float, stream: str = "/streaming") -> tuple[list[float], float, float]:
    clients = [MjpegClient(server.url + stream) for _ in range(viewers)]
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
    cores, analysed = server.usage(seconds)
    rates = [(counts[i] - start_counts[i]) / seconds for i in range(viewers)]
    stop.set()
    for client in clients:
        client.close()
    for thread in threads:
        thread.join(5)
    return rates, cores, analysed


class Server(ServerProcess):
    """run.py of the checkout at root, with clip as its camera."""

    def __init__(self, root: Path, clip: Path, data: Path, weights: Path) -> None:
        super().__init__(root=root, clip=clip, data_dir=data, key_file=data.parent / f"{data.name}.key",
                         weights=weights, log=data.with_suffix(".log"), start_timeout=180)

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
        return cpu_seconds([self.process.pid] + _children(self.process.pid))


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) the processes have used so far; one gone meanwhile counts nothing."""
    total = 0.0
    for pid in pids:
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


if __name__ == "__main__":
    sys.exit(main())
