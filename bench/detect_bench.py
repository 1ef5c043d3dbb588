"""The face detectors (recognition/models/detectors) side by side: how many faces each finds, how many it
invents, and what a frame costs, measured in the same run against today's recognition setting (Haar on the
frame scaled to 640 px wide).

Material:
- two street crowds made from the fixture faces at run time (tests/crowd.py), 1920x1080, whose true face
  boxes are known: one with faces of 50 to 120 px, one harder (faces of 40 to 80 px, more people, the
  frame darkened). Each frame is searched at 640, 1280 and 1920 px wide: Haar with detect_width equal to
  the frame's width, the others with min_face = 40 * width / 1920 (at least 20). A true face is found when
  a box overlaps it with IoU >= 0.3 or holds its centre; a box that matches no true face is a false face;
- the fixture photos: the portraits (one face each) and faces/group/*.jpg (two each), counted only
  (obama_and_biden.jpg also shows a girl's face, bowed and in shadow, at the lower right: a detector
  that finds it is counted one extra box);
- the fixture clip (no true boxes): faces per frame.
`blazeface-candidates` is BlazeFace before its second opinion (confirm.py), `hog+confirm` HOG with it:
what confirmation removes. Last, whether dlib's HOG lets other Python threads run while it searches.

Run: make bench-detect   (or .venv/bin/python bench/detect_bench.py [--frames 12] [--detectors haar,hog])
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.parts import FIXTURES  # noqa: E402
from tests.support.clips import read_frames  # noqa: E402
from recognition.faces import Box  # noqa: E402
from recognition.models.detectors import make_detector  # noqa: E402
from tests.crowd import CrowdScene, found_and_false  # noqa: E402
from tests.test_detector import SINGLE_FACE_PHOTOS  # noqa: E402

WIDTHS = (640, 1280, 1920)
BASELINE = ("haar", 640)
DETECTORS = ("haar", "blazeface", "blazeface-candidates", "hog", "hog+confirm", "mtcnn")
GROUP_PHOTOS = ("group/obama_and_biden.jpg", "group/kit_with_rose.jpg", "group/two_people.jpg")
CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
CLIP_STEP = 5  # every fifth frame of the clip (55 of 275)
FRAME_STEP = 25  # crowd frames one second apart: people come, grow and leave between them


@dataclass(frozen=True)
class Scene:
    title: str
    seed: int
    people: int
    faces: tuple[int, int]
    light: float  # the whole frame's brightness, after the scene's own lighting of each person


SCENES = (Scene("crowd A: faces 50-120 px", 1, 6, (50, 120), 1.0),
          Scene("crowd B: faces 40-80 px, 8 people, darker", 2, 8, (40, 80), 0.55))


class Candidates:
    """BlazeFace's candidates, before the short-range model's second opinion."""

    def __init__(self, min_face: int) -> None:
        from recognition.models.detectors.tiled import BlazeFaceDetector

        self.name, self._detector = "blazeface-candidates", BlazeFaceDetector(min_face=min_face)

    def detect(self, image: np.ndarray):
        return self._detector.candidates(image)


def build(name: str, *, detect_width: int = 640, min_face: int = 40):
    """The detector called name: Haar scaling images to detect_width, the others looking for min_face px."""
    if name == "haar":
        return make_detector("haar", detect_width=detect_width)
    if name == "blazeface-candidates":
        return Candidates(min_face)
    if name == "hog+confirm":
        from recognition.models.detectors.hog import HogDetector

        return HogDetector(min_face, confirm=True)
    return make_detector(name, min_face=min_face)


def available(names: list[str]) -> list[str]:
    """The names whose backend exists here; a note for each one that does not."""
    kept = []
    for name in names:
        if name == "mtcnn" and importlib.util.find_spec("recognition.models.detectors.mtcnn") is None:
            print("note: mtcnn skipped: recognition/models/detectors/mtcnn.py does not exist in this checkout")
            continue
        if name == "mtcnn":
            try:
                build(name)
            except (ValueError, TypeError) as error:
                print(f"note: mtcnn skipped: {error}")
                continue
        kept.append(name)
    return kept


def timed(detector, image: np.ndarray) -> tuple[list, float]:
    started = time.perf_counter()
    boxes = detector.detect(image)
    return boxes, (time.perf_counter() - started) * 1000


@dataclass
class Score:
    found: int = 0  # true faces found
    false: int = 0  # boxes matching no true face
    truth: int = 0

    def add(self, found: int, false: int, truth: int) -> None:
        self.found, self.false, self.truth = self.found + found, self.false + false, self.truth + truth

    @property
    def recall(self) -> float:
        return self.found / self.truth if self.truth else 0.0


def scaled_boxes(boxes: list[Box], scale: float) -> list[Box]:
    return [Box(round(b.x * scale), round(b.y * scale), round(b.w * scale), round(b.h * scale)) for b in boxes]


@dataclass
class Row:
    score: Score = field(default_factory=Score)
    ms: list = field(default_factory=list)


def crowd(scene: Scene, frames: int, names: list[str]) -> None:
    made = CrowdScene(seed=scene.seed, people=scene.people, faces=scene.faces)
    shots = made.frames(frames, step=FRAME_STEP)
    noise = np.random.default_rng(scene.seed)
    images = [np.clip(s.image * scene.light + noise.normal(0, 3, s.image.shape), 0, 255).astype(np.uint8)
              if scene.light != 1.0 else s.image for s in shots]
    truth = sum(len(s.faces) for s in shots)
    heights = [b.h for s in shots for b in s.faces]
    print(f"\n== {scene.title}: {frames} frames of 1920x1080, {truth} true faces "
          f"({min(heights)}-{max(heights)} px tall at 1920) ==")
    rows: dict[tuple[str, int], Row] = {}
    for width in WIDTHS:
        resized = [cv2.resize(image, (width, width * 1080 // 1920), interpolation=cv2.INTER_AREA)
                   if width != 1920 else image for image in images]
        for name in names:
            detector, row = build(name, detect_width=width, min_face=max(20, 40 * width // 1920)), Row()
            detector.detect(resized[0])  # models loaded and warmed before the clock runs
            for image, shot in zip(resized, shots):
                boxes, ms = timed(detector, image)
                row.ms.append(ms)
                row.score.add(*found_and_false(boxes, scaled_boxes(shot.faces, width / 1920)), len(shot.faces))
            rows[(name, width)] = row
    base = rows.get(BASELINE)
    print(f"{'detector':22}{'width':>6}{'found/true':>12}{'recall':>8}{'false/frame':>13}{'ms/frame':>10}"
          f"{'recall x':>10}{'time x':>8}   (x: against {BASELINE[0]} at {BASELINE[1]})")
    for (name, width), row in rows.items():
        ms = statistics.median(row.ms)
        versus = (f"{row.score.recall / base.score.recall:10.2f}" if base and base.score.recall else f"{'-':>10}")
        versus += f"{ms / statistics.median(base.ms):8.2f}" if base else f"{'-':>8}"
        print(f"{name:22}{width:6}{row.score.found:6}/{row.score.truth:<5}{row.score.recall:8.0%}"
              f"{row.score.false / frames:13.2f}{ms:10.0f}{versus}")
    if base and not base.score.recall:
        print(f"({BASELINE[0]} at {BASELINE[1]} finds none of these faces: no recall ratio)")


def photos(names: list[str]) -> None:
    from tests.conftest import load_photo

    sets = {"portraits": [(p, 1) for p in SINGLE_FACE_PHOTOS], "group": [(p, 2) for p in GROUP_PHOTOS]}
    print(f"\n== fixture photos at their own size (counted only): {len(sets['portraits'])} portraits of one face, "
          f"{len(sets['group'])} group photos of two ==")
    print(f"{'detector':22}{'portraits right':>17}{'group right':>13}{'found/true':>12}{'extra boxes':>13}"
          f"{'ms/photo':>10}   wrong counts")
    for name in names:
        detector, right, found, extra, truth, ms, wrong = build(name), {}, 0, 0, 0, [], []
        detector.detect(load_photo(GROUP_PHOTOS[0]))
        for kind, items in sets.items():
            right[kind] = 0
            for photo, expected in items:
                boxes, took = timed(detector, load_photo(photo))
                ms.append(took)
                right[kind] += len(boxes) == expected
                found, extra, truth = found + min(len(boxes), expected), extra + max(0, len(boxes) - expected), \
                    truth + expected
                if len(boxes) != expected:
                    wrong.append(f"{Path(photo).stem}:{len(boxes)}")
        print(f"{name:22}{right['portraits']:11}/{len(sets['portraits']):<5}{right['group']:7}/{len(sets['group']):<5}"
              f"{found:6}/{truth:<5}{extra:13}{statistics.median(ms):10.0f}   {' '.join(wrong) or '-'}")


def clip(names: list[str]) -> None:
    frames = read_frames(CLIP, step=CLIP_STEP)
    height, width = frames[0].shape[:2]
    print(f"\n== the fixture clip {CLIP.name}, {width}x{height}, every {CLIP_STEP}th frame ({len(frames)}); "
          f"no true boxes: faces per frame only ==")
    print(f"{'detector':22}{'faces/frame':>12}{'frames with a face':>20}{'most in a frame':>17}{'ms/frame':>10}")
    for name in names:
        detector = build(name, detect_width=width)
        detector.detect(frames[0])
        counts, ms = [], []
        for frame in frames:
            boxes, took = timed(detector, frame)
            counts.append(len(boxes))
            ms.append(took)
        print(f"{name:22}{statistics.mean(counts):12.2f}{sum(c > 0 for c in counts):14}/{len(frames):<5}"
              f"{max(counts):17}{statistics.median(ms):10.0f}")


def longest_pause(call) -> tuple[float, float]:
    """(seconds call took, the longest a pure-Python counting thread went without counting meanwhile)."""
    import threading

    stop, marks = threading.Event(), []

    def count():
        ticks = 0
        while not stop.is_set():
            ticks += 1
            if ticks % 2000 == 0:
                marks.append(time.perf_counter())

    counter = threading.Thread(target=count, name="bench-counter")
    counter.start()
    time.sleep(0.05)
    started = time.perf_counter()
    call()
    ended = time.perf_counter()
    stop.set()
    counter.join(10)
    points = [started] + [m for m in marks if started <= m <= ended] + [ended]
    return ended - started, max(b - a for a, b in zip(points, points[1:]))


def gil() -> None:
    """Whether dlib's HOG lets other Python threads run while it searches a 1080p frame."""
    import dlib

    image = cv2.cvtColor(CrowdScene(faces=(50, 120)).frame(0).image, cv2.COLOR_BGR2GRAY)
    hog = dlib.get_frontal_face_detector()
    print("\n== HOG and Python's global interpreter lock: a counting thread's longest pause during each call ==")
    for what, call in (("dlib HOG on 1080p", lambda: hog(image, 0)),
                       ("sum(range(3e6)) (holds the lock)", lambda: sum(range(3_000_000)))):
        took, pause = longest_pause(call)
        print(f"{what:36} call {1000 * took:5.0f} ms, counter paused at most {1000 * pause:5.0f} ms "
              f"({pause / took:.0%} of the call)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=12, help="crowd frames per scene (one second apart)")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help=f"of {', '.join(DETECTORS)}")
    args = parser.parse_args()
    if args.frames < 1:
        parser.error("--frames must be 1 or more")
    wanted = [name.strip() for name in args.detectors.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in DETECTORS]
    if unknown:
        parser.error(f"unknown detectors {', '.join(unknown)}: choose among {', '.join(DETECTORS)}")
    names = available(wanted)
    started = time.monotonic()
    print(f"detectors: {', '.join(names)}; {os.cpu_count()} cores; ms are medians of one detect() call")
    for scene in SCENES:
        crowd(scene, args.frames, names)
    photos(names)
    clip(names)
    if "hog" in names or "hog+confirm" in names:
        gil()
    print(f"\n(the bench took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
