"""Judging a burst of head poses against the movement that was asked for.

Pure logic over poses (no images, no models), so every rule can be read here at once:

- enough frames show exactly one face, big enough for the landmarks to be trusted;
- the face is followed from frame to frame: it never jumps further than half its width, changes size
  by more than a third, or turns further than a head turns in a tenth of a second (another face or
  picture put in front of the camera mid-burst is not the same head);
- the head moves as asked: some later frame's pose differs from an earlier one's by the move's amount,
  in the move's direction (a still photo, or one frame sent again and again, does not move at all, and
  a flat picture turned or tilted moves the nose-tip parallax very little: see pose.py);
- a "look up" is not a turn read sideways: the head may not turn by half a turn's amount meanwhile.

Whether the faces are one person is the burst's own check (burst.py), with the embedding model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from recognition.faces import Box
from recognition.liveness.pose import HeadPose

# Amounts of nose-tip parallax (pose.py): 0.2 across is a turn of about 25 degrees for an average face,
# 0.1 down a tilt back of about 25. The fixture photos held up to a wide-angle camera and swung through
# +-45 degrees, tilted through +-30, moved across by at most 0.15 and down by at most 0.08 (landmarks
# fitted to a strongly foreshortened face wander): bench/liveness_bench.py measures it.
TURN = 0.2
LIFT = 0.1
MIN_FRAMES = 6  # frames with one usable face; fewer cannot show a movement with any confidence
MIN_EYE_DISTANCE = 18.0  # pixels between the eyes: below, the landmarks are too coarse (face under ~70 px)
MAX_JUMP = 0.5  # of the face's width, between two frames that follow each other
MAX_RESIZE = 1 / 3  # of the face's width, between two frames that follow each other
# How far the nose tip may move across between two frames that follow each other (a tenth of a second
# apart at the page's pace): the clip's turning head moved at most 0.16; photos of one person facing
# different ways, shown one after another, jump further.
MAX_STEP = 0.3


@dataclass(frozen=True)
class Move:
    name: str  # "left", "right", "up"
    prompt: str  # what the page asks
    axis: str  # the HeadPose field it changes
    sign: int  # +1: that field grows; -1: it falls
    needed: float  # by how much


MOVES = {
    "left": Move("left", "Turn your head to your left", "across", +1, TURN),
    "right": Move("right", "Turn your head to your right", "across", -1, TURN),
    "up": Move("up", "Look up at the ceiling", "down", -1, LIFT),
}


@dataclass(frozen=True)
class FrameLook:
    """What one frame of the burst showed: how many faces, and the pose of the biggest."""

    faces: int
    box: Optional[Box] = None
    pose: Optional[HeadPose] = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str  # why not (for the person: what to do), or "moved as asked"
    moved: float = 0.0  # how far the head moved in the asked direction (in the move's units)
    needed: float = 0.0
    usable: int = 0  # frames with one usable face
    start: Optional[int] = None  # the frames (indices into the burst) where the movement began ...
    end: Optional[int] = None  # ... and where it went furthest

    def to_json(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "moved": round(self.moved, 3),
                "needed": self.needed, "usable_frames": self.usable}


def judge(looks: list[FrameLook], move: Move) -> Verdict:
    """Whether the burst shows one face that moved as asked (see the module's rules)."""
    several = sum(1 for look in looks if look.faces > 1)
    usable = [i for i, look in enumerate(looks) if look.faces == 1 and look.pose is not None]
    if several > len(looks) // 3:
        return Verdict(False, "several faces are in view: only the person signing in should be", usable=len(usable))
    if len(usable) < MIN_FRAMES:
        return Verdict(False, "the face was not seen in enough frames: face the camera in good light",
                       usable=len(usable))
    if np.median([looks[i].pose.eye_distance for i in usable]) < MIN_EYE_DISTANCE:
        return Verdict(False, "the face is too small: come closer to the camera", usable=len(usable))
    for before, after in zip(usable, usable[1:]):
        if _jumped(looks[before].box, looks[after].box):
            return Verdict(False, "the face jumped between frames: keep one face in view, and move the head "
                                  "rather than the camera", usable=len(usable))
        if abs(looks[after].pose.across - looks[before].pose.across) > MAX_STEP:
            return Verdict(False, "the face turned faster than a head turns: turn smoothly, and show no pictures",
                           usable=len(usable))
    values = _smoothed(np.array([getattr(looks[i].pose, move.axis) for i in usable]) * move.sign)
    start, end, moved = _furthest_rise(values)
    if move.axis == "down":  # a look up must not be a turn: dlib's chin wanders as the head turns
        across = _smoothed(np.array([looks[i].pose.across for i in usable]))[start : end + 1]
        if across.max() - across.min() >= TURN / 2:
            return Verdict(False, "the head turned instead: look up, keeping it straight", moved, move.needed,
                           len(usable), usable[start], usable[end])
    if moved < move.needed:
        return Verdict(False, f"the head did not move as asked ({move.prompt.lower()}), or the face is a picture",
                       moved, move.needed, len(usable), usable[start], usable[end])
    return Verdict(True, "moved as asked", moved, move.needed, len(usable), usable[start], usable[end])


def _jumped(before: Box, after: Box) -> bool:
    width = max(before.w, 1)
    shift = np.hypot((after.x + after.w / 2) - (before.x + before.w / 2), (after.y + after.h / 2) - (before.y + before.h / 2))
    return shift > MAX_JUMP * width or abs(after.w - before.w) > MAX_RESIZE * width


def _smoothed(values: np.ndarray, width: int = 5) -> np.ndarray:
    """A running median of five frames (half a second at the page's pace, shorter than any turn): a
    frame or two of landmarks misfitted to a foreshortened picture are not a movement."""
    if len(values) < width:
        return values
    half = width // 2
    padded = np.concatenate([values[:1].repeat(half), values, values[-1:].repeat(half)])
    return np.median(np.stack([padded[i : i + len(values)] for i in range(width)]), axis=0)


def _furthest_rise(values: np.ndarray) -> tuple[int, int, float]:
    """The pair start < end with the largest values[end] - values[start]."""
    lowest, best = 0, (0, 0, 0.0)
    for i in range(1, len(values)):
        if values[i] - values[lowest] > best[2]:
            best = (lowest, i, float(values[i] - values[lowest]))
        if values[i] < values[lowest]:
            lowest = i
    return best
