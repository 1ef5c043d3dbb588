"""The liveness challenge (recognition/liveness) on the fixtures, under today's rules and under the rules
of 0eb7691 (bench/liveness_baseline.py), measured in the same run:

1. what a genuine user gets: the pass rate of one try as the browser test makes them (a burst of the
   page's length, ten frames a second, starting anywhere in the looping camera file), before (one move,
   left or right, over the old test's camera: the clip's turn played forward and back) and after (two
   moves in a random order over the new one: the turn and the same turn mirrored);
2. what recordings get: the clip's turn, and the same played backwards, against every move and order;
3. what posed photo pairs and held-up stills get (the rules that stop pictures);
4. what a burst costs the server, beside one photo's recognition.

Run: make bench-liveness   (or .venv/bin/python bench/liveness_bench.py)
"""
from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare_accuracy import labelled_photos  # noqa: E402
from bench.liveness_baseline import old_judge  # noqa: E402
from bench.parts import FIXTURES, scratch_parts  # noqa: E402
from camera.clips import face_centred, held_up, letterbox, read_frames  # noqa: E402
from recognition.liveness import burst  # noqa: E402
from recognition.liveness.burst import BurstLooker, check_burst, follow_person  # noqa: E402
from recognition.liveness.judge import LIFT, MOVES, TURN  # noqa: E402
from recognition.liveness.pose import HeadPoseModel  # noqa: E402
from recognition.models.weights import pose_model_path  # noqa: E402
from tests.footage import CLIP, SPEED, TURNING, mirrored, ping_pong, right_turn, sped_up  # noqa: E402

PAGE_STEP = 3  # the page takes ten frames a second from a camera playing 30
PER_MOVE = burst.FRAMES_PER_MOVE
TRY_EVERY = 2  # tries start this many camera frames apart
SHOWN_EACH = 6  # frames each photo of a posed pair is shown
STILL_FRAMES = 24
HOLDS = {"default": {}, "focal=0.8": {"focal": 0.8}, "swing=45": {"swing": 45},
         "swing=45 nod=30 focal=0.8": {"swing": 45, "nod": 30, "focal": 0.8}}
AXIS_NEEDED = {"across": TURN, "down": LIFT}


class Cached:
    """The analyzer's detector and embedder, remembering what each camera frame gave: a try over a
    looping camera sees the same frames again and again. Keyed by the frames' identity: only for frames
    that live as long as it does (a loop's)."""

    def __init__(self, analyzer) -> None:
        self.analyzer, self._found, self._near, self._vectors = analyzer, {}, {}, {}
        self.detector = SimpleNamespace(detect=self.detect, detect_near=self.detect_near)
        self.embedder = SimpleNamespace(embed=self.embed, input_size=analyzer.embedder.input_size)
        self.aligner, self.matcher = analyzer.aligner, analyzer.matcher

    def detect(self, frame):
        if id(frame) not in self._found:
            self._found[id(frame)] = self.analyzer.detector.detect(frame)
        return self._found[id(frame)]

    def detect_near(self, frame, boxes):
        key = (id(frame), tuple(boxes))
        if key not in self._near:
            self._near[key] = self.analyzer.detector.detect_near(frame, boxes)
        return self._near[key]

    def embed(self, chips):
        missing = [chip for chip in chips if chip.tobytes() not in self._vectors]
        if missing:
            for chip, vector in zip(missing, self.analyzer.embedder.embed(missing)):
                self._vectors[chip.tobytes()] = vector
        return np.stack([self._vectors[chip.tobytes()] for chip in chips])


class CachedPoses:
    def __init__(self, poses: HeadPoseModel) -> None:
        self.poses, self._seen = poses, {}

    def pose(self, frame, box):
        key = (id(frame), box)
        if key not in self._seen:
            self._seen[key] = self.poses.pose(frame, box)
        return self._seen[key]


def camera(frames: list[np.ndarray]) -> list[np.ndarray]:
    """What the page's frames are made of: the camera file (640x480) as the page encodes it (JPEG 85)."""
    return [cv2.imdecode(cv2.imencode(".jpg", letterbox(f, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
                         cv2.IMREAD_COLOR) for f in frames]


def tries(loop, length: int, challenges, analyzer, poses, *, old: bool) -> dict[tuple, float]:
    """For each challenge, the fraction of starts that pass: a burst of length frames taken every
    PAGE_STEP frames of the looping camera from each start TRY_EVERY frames apart. old: the judge of
    0eb7691 (one move), followed by the same check that the frames are one person."""
    passed = dict.fromkeys(challenges, 0)
    starts = range(0, len(loop), TRY_EVERY)
    for start in starts:
        frames = [loop[(start + k * PAGE_STEP) % len(loop)] for k in range(length)]
        looker = BurstLooker(analyzer, poses)
        for frame in frames:
            looker.look(frame)
        for moves in challenges:
            if old:
                check = follow_person(looker.looks, old_judge(looker.looks, MOVES[moves[0]]), frames.__getitem__, analyzer)
            else:
                check = looker.check([MOVES[m] for m in moves], frames.__getitem__)
            passed[moves] += check.passed
    return {moves: count / len(starts) for moves, count in passed.items()}


def report_genuine(analyzer, poses) -> None:
    old_loop = camera(ping_pong(read_frames(FIXTURES / CLIP, *TURNING)))
    natural = right_turn(analyzer.analyzer.detector)
    right = sped_up(natural)
    new_loop = camera(right + mirrored(right))
    slow_loop = camera(natural + mirrored(natural))
    print("1. Genuine footage, one try as the browser test makes it: a burst of the page's length (ten frames a\n"
          f"   second) starting anywhere in the looping camera file (one every {TRY_EVERY} frames), the challenge at random")
    rows = [("before: old rules, 1 move (left or right), old camera (clip 90-165 forward+back, 5.0 s)",
             old_loop, PER_MOVE, [("left",), ("right",)], True),
            ("        new rules, same (1 move, old camera)", old_loop, PER_MOVE, [("left",), ("right",)], False),
            (f"after:  new rules, 2 moves (right+left or left+right), new camera: the turn and the same mirrored, "
             f"{SPEED}x as the browser test plays it ({len(new_loop) / 30:.1f} s)",
             new_loop, 2 * PER_MOVE, [("right", "left"), ("left", "right")], False),
            ("        new rules, 1 move (left or right), new camera", new_loop, PER_MOVE, [("left",), ("right",)], False),
            ("        old rules, 1 move (left or right), new camera", new_loop, PER_MOVE, [("left",), ("right",)], True),
            (f"        new rules, 2 moves, new camera at the clip's own speed ({len(slow_loop) / 30:.1f} s)", slow_loop,
             2 * PER_MOVE, [("right", "left"), ("left", "right")], False)]
    for label, loop, length, challenges, old in rows:
        rates = tries(loop, length, challenges, analyzer, poses, old=old)
        rate = statistics.mean(rates.values())  # the challenge is drawn at random, each as likely
        each = ", ".join(f"{'+'.join(moves)} {share:.0%}" for moves, share in rates.items())
        print(f"  {label}\n      one try passes {rate:4.0%} ({each}; {len(range(0, len(loop), TRY_EVERY))} starts); "
              f"within 3 tries {1 - (1 - rate) ** 3:5.1%}, within 5 {1 - (1 - rate) ** 5:5.1%}")
    print()


def report_recordings(analyzer, poses) -> None:
    clip = read_frames(FIXTURES / CLIP, *TURNING, PAGE_STEP)
    print(f"2. Recordings: the clip's turn (frames 90-165, every {PAGE_STEP}rd: the man turns to his right and back,\n"
          "   never to his left), as recorded and played backwards, against each challenge")
    challenges = [(m,) for m in MOVES] + list(itertools.permutations(MOVES, 2))
    for name, frames in (("as recorded", clip), ("backwards", clip[::-1])):
        looker = BurstLooker(analyzer, poses)
        for frame in frames:
            looker.look(frame)
        for moves in challenges:
            new = check_burst(frames, [MOVES[m] for m in moves], analyzer, poses)
            old = old_judge(looker.looks, MOVES[moves[0]]).passed if len(moves) == 1 else None
            before = "" if old is None else f"  before: {'PASS' if old else 'no'}"
            print(f"  {name:11} {'+'.join(moves):10} now: {'PASS' if new.passed else 'no  '}"
                  f" moved {new.verdict.moved:.3f}{before}  ({new.reason})")
    print()


def report_pairs(analyzer, poses) -> None:
    print(f"3. Posed photo pairs: photo A shown {SHOWN_EACH} frames, then photo B {SHOWN_EACH} frames, each face "
          "centred at the same place and size, against each single move (old rules in brackets)")
    people: dict[str, list] = {}
    for person, path in labelled_photos(FIXTURES / "faces"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        boxes = analyzer.detector.detect(image)
        if boxes:
            box = max(boxes, key=lambda b: b.area)
            people.setdefault(person, []).append((path.name, face_centred(image, (box.x, box.y, box.w, box.h))))
    pairs = passed = passed_old = 0
    for person, photos in people.items():
        for (name_a, a), (name_b, b) in itertools.permutations(photos, 2):
            frames = [a] * SHOWN_EACH + [b] * SHOWN_EACH
            looker = BurstLooker(analyzer, poses)
            for frame in frames:
                looker.look(frame)
            now = [name for name, move in MOVES.items() if check_burst(frames, move, analyzer, poses).passed]
            old = [name for name, move in MOVES.items() if old_judge(looker.looks, move).passed]
            pairs, passed, passed_old = pairs + 1, passed + bool(now), passed_old + bool(old)
            if now or old:
                print(f"  {person:15} {name_a:>22} -> {name_b:22} passes: {', '.join(now) or 'none'} "
                      f"({', '.join(old) or 'none'})")
    print(f"  summary: {passed} of {pairs} pairs pass some move now (old rules: {passed_old})\n")


def report_stills(analyzer, poses) -> None:
    print(f"4. Stills held up: {STILL_FRAMES} frames of held_up(face_centred(photo)) per photo and way of holding")
    photos = sorted(path for path in (FIXTURES / "faces").glob("*/*") if path.parent.name != "group")
    stills = passed = 0
    largest = {axis: (0.0, "") for axis in AXIS_NEEDED}
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        boxes = analyzer.detector.detect(image) if image is not None else []
        if not boxes:
            continue
        centred = face_centred(image, (boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h))
        for hold, options in HOLDS.items():
            frames = held_up(centred, STILL_FRAMES, **options)
            checks = {name: check_burst(frames, move, analyzer, poses) for name, move in MOVES.items()}
            for name, check in checks.items():
                axis = MOVES[name].axis
                if check.verdict.moved > largest[axis][0]:
                    largest[axis] = (check.verdict.moved, f"{path.parent.name}/{path.name} ({hold}), {name}")
            stills, passed = stills + 1, passed + any(check.passed for check in checks.values())
    print(f"  summary: {passed} of {stills} held-up stills passed some move (expected 0)")
    for axis, (amount, where) in largest.items():
        print(f"    largest {axis} moved by a still: {amount:.3f} (threshold {AXIS_NEEDED[axis]}: "
              f"{amount / AXIS_NEEDED[axis]:.0%} of it) in {where}")
    print()


def report_timing(analyzer, poses) -> None:
    """The server's work per burst, as present_face does it: each JPEG decoded and looked at, then the
    judge, then the chosen frames decoded again and embedded (nothing cached), over the bursts of the
    browser test's camera."""
    right = sped_up(right_turn(analyzer.detector))
    loop = right + mirrored(right)
    encoded = [cv2.imencode(".jpg", letterbox(f, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for f in loop]
    decode = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    analyzer.embed(decode(encoded[0]))  # warm up
    baseline = []
    for data in encoded[::4]:
        started = time.perf_counter()
        analyzer.embed(decode(data))
        baseline.append(time.perf_counter() - started)
    one = statistics.median(baseline)
    print(f"5. Server time per burst over the browser test's camera (decode, look, judge, decode again and embed;\n"
          f"   baseline: decode + detect + embed one photo, median {one * 1000:.0f} ms)")
    sequences = {"1 move (24 frames)": [("right",), ("left",)], "2 moves (48 frames)": [("right", "left"), ("left", "right")]}
    for label, challenges in sequences.items():
        length = PER_MOVE * len(challenges[0])
        times = {True: [], False: []}
        for start in range(0, len(loop), 5):
            frames = [encoded[(start + k * PAGE_STEP) % len(encoded)] for k in range(length)]
            for moves in challenges:
                started = time.perf_counter()
                looker = BurstLooker(analyzer, poses)
                for data in frames:
                    looker.look(decode(data))
                check = looker.check([MOVES[m] for m in moves], lambda i: decode(frames[i]))
                times[check.passed].append(time.perf_counter() - started)
        every = times[True] + times[False]
        for name, values in (("all", every), ("passing", times[True])):
            if values:
                median = statistics.median(values)
                print(f"    {label:20} {name:8} median {median * 1000:5.0f} ms, p95 "
                      f"{sorted(values)[int(0.95 * len(values))] * 1000:5.0f} ms = {median / one:4.1f}x one photo's "
                      f"recognition ({len(values)} bursts)")


def main() -> int:
    work, store, analyzer = scratch_parts("liveness-bench-")
    try:
        poses = HeadPoseModel(pose_model_path())
        cached, cached_poses = Cached(analyzer), CachedPoses(poses)
        analyzer.embed(read_frames(FIXTURES / CLIP, 90, 91)[0])  # load the model before anything is timed
        report_genuine(cached, cached_poses)
        report_recordings(analyzer, poses)
        report_pairs(analyzer, poses)
        report_stills(analyzer, poses)
        report_timing(analyzer, poses)
    finally:
        analyzer.embedder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
