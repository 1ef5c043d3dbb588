"""The liveness judge as it was at 0eb7691 (before a burst had to start from facing and come back, and
before challenges had several moves), kept only so bench/liveness_bench.py can measure the old rules
beside the new ones in the same run. Not used by the server."""
from __future__ import annotations

import numpy as np

from recognition.liveness.judge import MAX_STEP, MIN_EYE_DISTANCE, MIN_FRAMES, TURN, FrameLook, Move, Verdict, _jumped


def old_judge(looks: list[FrameLook], move: Move) -> Verdict:
    """One move: any rise of the signed pose value by the move's amount, anywhere in the burst."""
    several = sum(1 for look in looks if look.faces > 1)
    usable = [i for i, look in enumerate(looks) if look.faces == 1 and look.pose is not None]
    if several > len(looks) // 3:
        return Verdict(False, "several faces are in view", usable=len(usable))
    if len(usable) < MIN_FRAMES:
        return Verdict(False, "the face was not seen in enough frames", usable=len(usable))
    if np.median([looks[i].pose.eye_distance for i in usable]) < MIN_EYE_DISTANCE:
        return Verdict(False, "the face is too small", usable=len(usable))
    for before, after in zip(usable, usable[1:]):
        if _jumped(looks[before].box, looks[after].box):
            return Verdict(False, "the face jumped between frames", usable=len(usable))
        if abs(looks[after].pose.across - looks[before].pose.across) > MAX_STEP:
            return Verdict(False, "the face turned faster than a head turns", usable=len(usable))
    values = _padded_median(np.array([getattr(looks[i].pose, move.axis) for i in usable]) * move.sign)
    start, end, moved = _furthest_rise(values)
    if move.axis == "down":
        across = _padded_median(np.array([looks[i].pose.across for i in usable]))[start : end + 1]
        if across.max() - across.min() >= TURN / 2:
            return Verdict(False, "the head turned instead", moved, move.needed, len(usable), usable[start], usable[end])
    if moved < move.needed:
        return Verdict(False, "the head did not move as asked", moved, move.needed, len(usable), usable[start], usable[end])
    return Verdict(True, "moved as asked", moved, move.needed, len(usable), usable[start], usable[end],
                   followed=tuple(usable))


def _padded_median(values: np.ndarray, width: int = 5) -> np.ndarray:
    if len(values) < width:
        return values
    half = width // 2
    padded = np.concatenate([values[:1].repeat(half), values, values[-1:].repeat(half)])
    return np.median(np.stack([padded[i : i + len(values)] for i in range(width)]), axis=0)


def _furthest_rise(values: np.ndarray) -> tuple[int, int, float]:
    lowest, best = 0, (0, 0, 0.0)
    for i in range(1, len(values)):
        if values[i] - values[lowest] > best[2]:
            best = (lowest, i, float(values[i] - values[lowest]))
        if values[i] < values[lowest]:
            lowest = i
    return best
