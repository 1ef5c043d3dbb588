"""Judging a burst of head poses against the movements that were asked for, in their order.

Pure logic over poses (no images, no models), so every rule can be read here at once:

- enough frames show exactly one face, big enough for the landmarks to be trusted;
- the face is followed from frame to frame: it never jumps further than half its width, changes size
  by more than a third, or turns further than a head turns in a tenth of a second (another face or
  picture put in front of the camera mid-burst is not the same head); a single frame that breaks this
  between two that agree with each other is a detector's or the landmarks' slip, and is left out;
- each asked move, in the asked order, starts from a head facing the camera and goes the asked way by
  the move's amount (a still photo, or one frame sent again and again, does not move at all, and a flat
  picture turned or tilted moves the nose-tip parallax very little: see pose.py);
- a turn must also end that far past straight-on (across 0, the camera's axis): the way back from a
  turn to the right, swinging a little past facing, is no turn to the left, and a recording played
  backwards is the same turn again, not the other;
- between two moves the head comes back toward facing, by at least half a move, before the next begins;
- a "look up" is not a turn read sideways: the head may not turn by half a turn's amount meanwhile;
- the head makes no move that was not asked (excursions.py: a swing of half a move's amount away from
  facing, before, between or after the asked ones, or a second one within one): one recording of left,
  right, left would otherwise answer both "left then right" and "right then left".

Whether the faces are one person is the burst's own check (burst.py), with the embedding model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from recognition.faces import Box
from recognition.liveness.excursions import looks_up, turns
from recognition.liveness.pose import HeadPose

# Amounts of nose-tip parallax (pose.py): 0.2 across is a turn of about 25 degrees for an average face,
# 0.1 down a tilt back of about 25. The fixture photos held up to a wide-angle camera and swung through
# +-45 degrees, tilted through +-30, moved across by at most 0.15 and down by at most 0.08 (landmarks
# fitted to a strongly foreshortened face wander): bench/liveness_bench.py measures it.
TURN = 0.2
LIFT = 0.1
# How far across a head facing the camera reads. The fixture clip's man, facing it before and after his
# turn (frames 82-97 and 146-162), reads -0.04 to +0.16: the camera sees him a little from his left, as
# a laptop's camera sees someone looking at the screen beside it. Turned, he reads -0.2 to -0.4. A
# bound below 0.16 would find no facing start in some of his footage; one much above would call a head
# already turned a fifth of the way "facing". A turn must still go a full TURN from its facing start
# and end TURN past straight-on, so the band's width makes no move easier.
FACING = 0.16
RETURN = 0.5  # of a move's amount: how far back toward facing the head comes before the next move
UNASKED = 0.5  # of a move's amount: a swing that big away from facing is a move, asked or not (excursions.py)
CHIN = 2  # frames: a look up that peaks this close to where an asked turn went furthest is the turn's
MIN_FRAMES = 6  # frames with one usable face; fewer cannot show a movement with any confidence
MIN_EYE_DISTANCE = 18.0  # pixels between the eyes: below, the landmarks are too coarse (face under ~70 px)
MAX_JUMP = 0.5  # of the face's width, between two frames that follow each other
MAX_RESIZE = 1 / 3  # of the face's width, between two frames that follow each other
# How far the nose tip may move across between two frames that follow each other (a tenth of a second
# apart at the page's pace): the clip's turning head moved at most 0.16; photos of one person facing
# different ways, shown one after another, jump further.
MAX_STEP = 0.3
# Running medians (frames at the page's ten a second) the poses are read through. An asked move is found
# over three: one frame of landmarks misfitted to a picture is not a movement, and a brisk turn keeps its
# peak (over five, the clip's man at 1.5 times his pace passed 60% of tries, over three 100%, while
# held-up photos still came to at most 74% of a turn, 67% over five: bench/liveness_bench.py). A move
# not asked is looked for over five: a head's wobble on its way (the clip's man, before his turn) is no move.
ASKED_WINDOW = 3
UNASKED_WINDOW = 5


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

    # A usable frame (one face, its pose read) has both; these say so where only usable frames are read.
    @property
    def known_box(self) -> Box:
        if self.box is None:
            raise ValueError(f"this frame shows {self.faces} faces and no box: it is not usable")
        return self.box

    @property
    def known_pose(self) -> HeadPose:
        if self.pose is None:
            raise ValueError(f"this frame shows {self.faces} faces and no pose: it is not usable")
        return self.pose


class Span(NamedTuple):
    """Where a passed move began, ended and went furthest (indices into the usable frames)."""

    start: int
    end: int
    peak: int


@dataclass(frozen=True)
class Step:
    """How one asked move went: how far the head went its way (in the move's units), and where."""

    move: str
    passed: bool
    moved: float
    start: Optional[int] = None  # index into the usable frames: the facing frame it began from ...
    end: Optional[int] = None  # ... and where it went furthest (or came back, when a next move follows)
    peak: Optional[int] = None  # where it went furthest

    def span(self) -> Span:
        """Where a passed move began, ended and went furthest: it has all three."""
        if self.start is None or self.end is None or self.peak is None:
            raise ValueError(f"the move {self.move!r} has no start, end or peak frame: it did not pass")
        return Span(self.start, self.end, self.peak)

    def to_json(self) -> dict:
        return {"move": self.move, "passed": self.passed, "moved": round(self.moved, 3)}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str  # why not (for the person: what to do), or "moved as asked"
    moved: float = 0.0  # how far the head moved in the asked direction: the weakest (or failing) move's
    needed: float = 0.0
    usable: int = 0  # frames with one usable face
    start: Optional[int] = None  # the frames (indices into the burst) where the movements began ...
    end: Optional[int] = None  # ... and where the last went furthest
    steps: tuple[Step, ...] = ()
    followed: tuple[int, ...] = ()  # the frames (indices into the burst) the face was followed through

    def span(self) -> tuple[int, int]:
        """(start, end) of a passed verdict, which has both."""
        if self.start is None or self.end is None:
            raise ValueError(f"a verdict with no start and end frame did not pass ({self.reason})")
        return self.start, self.end

    def to_json(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "moved": round(self.moved, 3),
                "needed": self.needed, "usable_frames": self.usable, "steps": [s.to_json() for s in self.steps]}


def judge(looks: list[FrameLook], moves: Union[Move, Sequence[Move]]) -> Verdict:
    """Whether the burst shows one face that made the asked moves, in order (see the module's rules)."""
    moves = (moves,) if isinstance(moves, Move) else tuple(moves)
    several = sum(1 for look in looks if look.faces > 1)
    usable = [i for i, look in enumerate(looks) if look.faces == 1 and look.pose is not None]
    if several > len(looks) // 3:
        return Verdict(False, "several faces are in view: only the person signing in should be", usable=len(usable))
    if len(usable) < MIN_FRAMES:
        return Verdict(False, "the face was not seen in enough frames: face the camera in good light",
                       usable=len(usable))
    if np.median([looks[i].known_pose.eye_distance for i in usable]) < MIN_EYE_DISTANCE:
        return Verdict(False, "the face is too small: come closer to the camera", usable=len(usable))
    usable, problem = _followed(looks, usable)
    if problem is not None:
        return Verdict(False, problem, usable=len(usable))
    raw_across = np.array([looks[i].known_pose.across for i in usable])
    raw_down = np.array([looks[i].known_pose.down for i in usable])
    across, down = _smoothed(raw_across, ASKED_WINDOW), _smoothed(raw_down, ASKED_WINDOW)
    facing = np.abs(across) <= FACING
    if not facing.any():
        return Verdict(False, "the head never faced the camera: face it before each movement", usable=len(usable))
    steps: list[Step] = []
    cursor = 0
    for number, move in enumerate(moves):
        step = _find(move, across, down, facing, cursor, returning=number < len(moves) - 1)
        steps.append(step)
        if not step.passed:
            return _refused(move, step, number, len(moves), steps, usable)
        cursor = step.span().end
    unasked = _unasked(moves, steps, _smoothed(raw_across, UNASKED_WINDOW), _smoothed(raw_down, UNASKED_WINDOW))
    if unasked is not None:
        return Verdict(False, f"the head made a move that was not asked ({unasked}): make only the asked moves, "
                              "facing the camera between them", usable=len(usable), start=usable[steps[0].span().start],
                       steps=tuple(steps))
    weakest = min(steps, key=lambda s: s.moved / MOVES[s.move].needed)
    return Verdict(True, "moved as asked", weakest.moved, MOVES[weakest.move].needed, len(usable),
                   usable[steps[0].span().start], usable[steps[-1].span().end], tuple(steps), tuple(usable))


def _find(move: Move, across: np.ndarray, down: np.ndarray, facing: np.ndarray, cursor: int, *,
          returning: bool) -> Step:
    """The first time, from cursor on, that the head goes from facing the camera the move's way by its
    amount (and, when returning, comes back toward facing by RETURN of it). The amount is counted from
    the facing frame furthest the other way (for a look up: the most level one) since the search began;
    a turn must also end that far past straight-on (across 0), so a swing back from the other side that
    only reaches the near edge of facing is no turn."""
    values = (across if move.axis == "across" else down) * move.sign
    start: Optional[int] = None  # the facing frame the move is counted from
    best = 0.0
    for reach in range(cursor, len(values)):
        if facing[reach] and (start is None or values[reach] <= values[start]):
            start = reach
        if start is None:
            continue
        if move.axis == "down" and (not facing[reach] or np.ptp(across[start : reach + 1]) >= TURN / 2):
            start = reach if facing[reach] else None  # turned meanwhile: a look up begins afresh
            continue
        moved = _amount(move, values, start, reach)
        if moved < move.needed:
            best = max(best, moved)
            continue
        peak, back = _peak_and_return(values, reach, RETURN * move.needed)
        if move.axis == "down" and np.ptp(across[start : peak + 1]) >= TURN / 2:
            start = None  # the head turned on its way: dlib's chin wanders as a head turns; begin afresh
            continue
        moved = _amount(move, values, start, peak)
        if back is not None:
            return Step(move.name, True, moved, start, back if returning else peak, peak)
        return Step(move.name, not returning, moved, start, None if returning else peak, peak)  # never came back
    return Step(move.name, False, best, start, None)


def _unasked(moves: Sequence[Move], steps: list[Step], across: np.ndarray, down: np.ndarray) -> Optional[str]:
    """The first move the head made (excursions.py) that no asked step accounts for, said for the person;
    or None. Each step accounts for the move of its kind nearest its peak, and for those the same way
    from its facing start to there (a head that set off, paused and went on): so a move made before the
    first, between two, after the last, the other way within one, or the same way again after coming
    back, is refused."""
    made = (turns(across, least=UNASKED * TURN, facing=FACING, full=TURN)
            + looks_up(down, across, least=UNASKED * LIFT, facing=FACING, steady=TURN / 2))
    furthest = []  # where the asked turns went furthest
    for move, step in zip(moves, steps):
        span = step.span()
        mine = [e for e in made if e.axis == move.axis and e.sign == move.sign and e.peak >= span.start]
        if mine:
            own = min(mine, key=lambda e: abs(e.peak - span.peak))
            made = [e for e in made if e not in mine or e.peak > own.peak]
            furthest += [own.peak] if move.axis == "across" else []
    # dlib's chin rises as a head turns furthest: a look up that peaks there is the turn's (and no look up
    # the judge would take, the head being turned)
    made = [e for e in made if e.axis == "across" or all(abs(e.peak - peak) > CHIN for peak in furthest)]
    if not made:
        return None
    first = min(made, key=lambda e: (e.axis != "across", e.peak))  # a turn first: its chin wanders too
    if first.axis == "down":
        return "a look up"
    return "a turn to the left" if first.sign > 0 else "a turn to the right"


def _peak_and_return(values: np.ndarray, reach: int, back: float) -> tuple[int, Optional[int]]:
    """From reach on: the furthest frame before the head came back by back, and where it had (or None)."""
    peak = reach
    for after in range(reach, len(values)):
        if values[after] > values[peak]:
            peak = after
        if values[peak] - values[after] >= back:
            return peak, after
    return peak, None


def _amount(move: Move, values: np.ndarray, start: int, reach: int) -> float:
    moved = float(values[reach] - values[start])
    return min(moved, float(values[reach])) if move.axis == "across" else moved


def _refused(move: Move, step: Step, number: int, count: int, steps: list[Step], usable: list[int]) -> Verdict:
    which = f" (move {number + 1} of {count})" if count > 1 else ""
    if step.start is not None and step.end is None and step.moved >= move.needed:
        reason = (f"the head did not come back to face the camera after the move{which} "
                  f"({move.prompt.lower()}): face the camera between the moves")
    elif step.start is None:
        reason = f"the head did not face the camera before the move{which}: face it, then {move.prompt.lower()}"
    else:
        reason = f"the head did not move as asked{which} ({move.prompt.lower()}), or the face is a picture"
    begun = usable[steps[0].start] if steps[0].start is not None else None
    return Verdict(False, reason, step.moved, move.needed, len(usable), begun, None, tuple(steps))


def _followed(looks: list[FrameLook], usable: list[int]) -> tuple[list[int], Optional[str]]:
    """The frames the face can be followed through, or why it cannot. One frame the detector or the
    landmarks got wrong, between two that agree, is left out: the last one kept (when the one before it
    agrees with this one), or this one (when the next agrees with the last one kept)."""
    followed = [usable[0]]
    for position, index in enumerate(usable[1:], start=1):
        problem = _unlike(looks[followed[-1]], looks[index])
        if problem is None:
            followed.append(index)
        elif len(followed) > 1 and _unlike(looks[followed[-2]], looks[index]) is None:
            followed[-1] = index
        elif position + 1 < len(usable) and _unlike(looks[followed[-1]], looks[usable[position + 1]]) is None:
            continue
        else:
            return usable, problem
    return followed, None


def _unlike(before: FrameLook, after: FrameLook) -> Optional[str]:
    """Why after cannot be the head of before a frame later, or None."""
    if _jumped(before.known_box, after.known_box):
        return "the face jumped between frames: keep one face in view, and move the head rather than the camera"
    if abs(after.known_pose.across - before.known_pose.across) > MAX_STEP:
        return "the face turned faster than a head turns: turn smoothly, and show no pictures"
    return None


def _jumped(before: Box, after: Box) -> bool:
    width = max(before.w, 1)
    shift = np.hypot((after.x + after.w / 2) - (before.x + before.w / 2),
                     (after.y + after.h / 2) - (before.y + before.h / 2))
    return shift > MAX_JUMP * width or abs(after.w - before.w) > MAX_RESIZE * width


def _smoothed(values: np.ndarray, width: int) -> np.ndarray:
    """A running median of width frames (see ASKED_WINDOW). At the ends the window is cut short rather
    than padded, so the first or last frame alone never counts for more than one."""
    half = width // 2
    return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))])
