"""The liveness challenge (recognition/liveness) on the fixtures: which moves real footage passes, what
posed photo pairs and held-up stills manage against it, and what a burst costs beside one photo's
recognition, measured in the same run.

Run: make bench-liveness   (or .venv/bin/python bench/liveness_bench.py)
"""
from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare_accuracy import labelled_photos  # noqa: E402
from bench.parts import FIXTURES, scratch_parts  # noqa: E402
from camera.clips import face_centred, held_up, read_frames  # noqa: E402
from recognition.liveness.burst import check_burst  # noqa: E402
from recognition.liveness.judge import LIFT, MOVES, TURN  # noqa: E402
from recognition.liveness.pose import HeadPoseModel  # noqa: E402
from recognition.models.weights import pose_model_path  # noqa: E402

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
STEP, SPAN = 3, 25  # every 3rd frame of the ~30 fps clip, 25 of them: 2.5 s as the page sends ~10 frames/s
SHOWN_EVERY = 15  # the windows printed one by one start this many frames apart
TRY_EVERY = 3  # the windows behind the "tries" figure and the timing start this many frames apart
SHOWN_EACH = 6  # frames each photo of a posed pair is shown
STILL_FRAMES = 24
HOLDS = {"default": {}, "focal=0.8": {"focal": 0.8}, "swing=45": {"swing": 45},
         "swing=45 nod=30 focal=0.8": {"swing": 45, "nod": 30, "focal": 0.8}}
AXIS_NEEDED = {"across": TURN, "down": LIFT}


def followed(check) -> bool:
    """The burst showed one face, followed from frame to frame (the judge got as far as the movement)."""
    return check.verdict.start is not None


def outcome(check) -> str:
    if check.passed:
        return f"PASS  moved {check.verdict.moved:.3f}"
    return f"no    moved {check.verdict.moved:.3f}  ({check.reason})"


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values))]


def face_box(analyzer, image):
    boxes = analyzer.detector.detect(image)
    return None if not boxes else max(boxes, key=lambda b: b.area)


def clip_windows(analyzer, poses, frames):
    """{start: {move: (check, seconds)}} for every window starting TRY_EVERY frames apart."""
    windows = {}
    for start in range(0, len(frames) - STEP * (SPAN - 1), TRY_EVERY):
        burst = frames[start : start + STEP * (SPAN - 1) + 1 : STEP]
        windows[start] = {}
        for name, move in MOVES.items():
            started = time.perf_counter()
            check = check_burst(burst, move, analyzer, poses)
            windows[start][name] = (check, time.perf_counter() - started)
    return windows


def report_clip(windows, frame_count: int) -> None:
    print(f"1. Fixture clip {CLIP.name}: {frame_count} frames; windows of {SPAN} frames, every {STEP}rd "
          f"({SPAN * STEP / 30:.1f} s), starting every {SHOWN_EVERY} frames")
    shown = [start for start in windows if start % SHOWN_EVERY == 0]
    for start in shown:
        print(f"  frames {start}-{start + STEP * (SPAN - 1)}:")
        for name, (check, _) in windows[start].items():
            print(f"    {name:5} {outcome(check)}")
    print(f"  summary over {len(shown)} windows:")
    for name in MOVES:
        print(f"    {name:5} passed in {sum(windows[s][name][0].passed for s in shown)} of {len(shown)} windows")
    print(f"    a single followed face in {sum(followed(windows[s]['left'][0]) for s in shown)} of {len(shown)} windows\n")


def report_pairs(analyzer, poses) -> None:
    print(f"2. Posed photo pairs: photo A shown {SHOWN_EACH} frames, then photo B {SHOWN_EACH} frames, "
          "each face centred at the same place and size")
    people: dict[str, list] = {}
    for person, path in labelled_photos(FIXTURES / "faces"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        box = face_box(analyzer, image)
        if box is None:
            print(f"  skipped {person}/{path.name}: Haar finds no face")
            continue
        people.setdefault(person, []).append((path.name, face_centred(image, (box.x, box.y, box.w, box.h))))
    pairs = passed = 0
    for person, photos in people.items():
        for (name_a, a), (name_b, b) in itertools.permutations(photos, 2):
            checks = {name: check_burst([a] * SHOWN_EACH + [b] * SHOWN_EACH, move, analyzer, poses)
                      for name, move in MOVES.items()}
            passes = [name for name, check in checks.items() if check.passed]
            moved = " ".join(f"{name} {check.verdict.moved:.3f}" for name, check in checks.items())
            pairs, passed = pairs + 1, passed + bool(passes)
            print(f"  {person:15} {name_a:>22} -> {name_b:22} moved: {moved}  passes: {', '.join(passes) or 'none'}")
    print(f"  summary: {passed} of {pairs} pairs passed some move\n")


def report_stills(analyzer, poses) -> None:
    print(f"3. Stills held up: {STILL_FRAMES} frames of held_up(face_centred(photo)) per photo and way of holding")
    photos = sorted(path for path in (FIXTURES / "faces").glob("*/*") if path.parent.name != "group")
    stills = passed = 0
    largest = {axis: (0.0, "") for axis in AXIS_NEEDED}
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        box = face_box(analyzer, image)
        if box is None:
            print(f"  skipped {path.parent.name}/{path.name}: Haar finds no face")
            continue
        centred = face_centred(image, (box.x, box.y, box.w, box.h))
        for hold, options in HOLDS.items():
            frames = held_up(centred, STILL_FRAMES, **options)
            checks = {name: check_burst(frames, move, analyzer, poses) for name, move in MOVES.items()}
            label = f"{path.parent.name}/{path.name} ({hold})"
            for name, check in checks.items():
                axis = MOVES[name].axis
                if check.verdict.moved > largest[axis][0]:
                    largest[axis] = (check.verdict.moved, f"{label}, {name}")
            passes = [name for name, check in checks.items() if check.passed]
            stills, passed = stills + 1, passed + bool(passes)
            moved = " ".join(f"{name} {check.verdict.moved:.3f}" for name, check in checks.items())
            early = "" if followed(checks["left"]) else f"  [not followed: {checks['left'].reason}]"
            print(f"  {label:42} moved: {moved}  passes: {', '.join(passes) or 'none'}{early}")
    print(f"  summary: {passed} of {stills} held-up stills passed some move (expected 0)")
    for axis, (amount, where) in largest.items():
        print(f"    largest {axis} moved by a still: {amount:.3f} (threshold {AXIS_NEEDED[axis]}: "
              f"{amount / AXIS_NEEDED[axis]:.0%} of it) in {where}")
    print()


def report_tries(windows) -> None:
    print(f"4. Tries: every window of the clip starting {TRY_EVERY} frames apart ({len(windows)} windows), "
          "each judged against each move")
    print("   The people in the clip were never asked to move: a window passes only where the footage happens to\n"
          "   show the move. The fraction is how often one try passes when the asked move falls in the 2.5 s.")
    with_face = [start for start in windows if followed(windows[start]["left"][0])]
    for names in (["left"], ["right"], ["left", "right"]):
        for label, starts in (("all windows", list(windows)), ("windows with a followed face", with_face)):
            combos = [(start, name) for start in starts for name in names]
            hits = sum(windows[start][name][0].passed for start, name in combos)
            print(f"    {'/'.join(names):10} {label:29} {hits:3} of {len(combos):3} (window, move) pass = "
                  f"{hits / max(len(combos), 1):.0%}")
    print()


def report_timing(analyzer, windows, frames) -> None:
    times = [seconds for moves in windows.values() for _, seconds in moves.values()]
    passing = [seconds for moves in windows.values() for check, seconds in moves.values() if check.passed]
    analyzer.embed(frames[0])  # warm up
    baseline = []
    for frame in frames:
        started = time.perf_counter()
        boxes, _ = analyzer.embed(frame)
        if len(boxes) == 1:
            baseline.append(time.perf_counter() - started)
    one = statistics.median(baseline)
    print(f"5. Timing (check_burst on the {len(times)} clip bursts of {SPAN} frames above; baseline: "
          f"analyzer.embed(frame) on the {len(baseline)} clip frames with exactly one face)")
    print(f"    one photo's recognition (detect + embed one face): median {one * 1000:6.1f} ms, "
          f"p95 {p95(baseline) * 1000:6.1f} ms")
    for label, values in (("check_burst, all", times), ("check_burst, passing only", passing)):
        if values:
            median = statistics.median(values)
            print(f"    {label:26} median {median * 1000:6.1f} ms, p95 {p95(values) * 1000:6.1f} ms "
                  f"= a burst costs {median / one:.1f}x one photo's recognition ({len(values)} bursts)")


def main() -> int:
    work, store, analyzer = scratch_parts("liveness-bench-")
    try:
        poses = HeadPoseModel(pose_model_path())
        frames = read_frames(CLIP)
        analyzer.embed(frames[0])  # load the model before anything is timed
        windows = clip_windows(analyzer, poses, frames)
        report_clip(windows, len(frames))
        report_pairs(analyzer, poses)
        report_stills(analyzer, poses)
        report_tries(windows)
        report_timing(analyzer, windows, frames)
    finally:
        analyzer.embedder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
