"""The moves a head made in a burst, whether asked or not: pure logic over its smoothed pose values.

The judge (judge.py) finds each asked move in order; this finds every move the head made, so a burst
with a move that was not asked is refused: one recording of left, right, left would otherwise answer
both "left then right" and "right then left", and a longer one every order.

An *excursion* is the head going one way and (unless the burst ends first) coming back: a turning point
of the pose value, reached by a swing of at least `least` (half a move's amount) from the turning point
before it (a zigzag over the values: every swing between two turning points is at least that big).
Which of those swings are moves:

- across (turns): a swing from a turning point where the head faced the camera (|across| <= FACING) to
  one further from straight-on, and at least least past it, on the side it swung to: the head left
  facing and went somewhere (a head facing the camera wobbles a few hundredths either side). A swing
  that starts turned (from the far end of a turn) is the way back: it counts only if it ends a full
  move's amount past straight-on on the other side (then the judge would take it for a turn). The way
  back from a turn swings past facing (the clip's man by up to 0.16 across, smoothed, where a turn needs
  0.2), which is no move of its own;
- down (look up): a swing up (down falling) from a frame where the head faces the camera, while it does
  not turn (across moves less than half a turn's amount over the swing and the two frames either side),
  as the judge asks of a look up. Dlib's chin rises as a head turns furthest, where the turn pauses a
  moment: part of the turn, not a look up. Looking down is no move anyone is asked for, and is not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Excursion:
    """One move the head made: on which axis, which way (+1: the value grew), where it went furthest
    (an index into the values) and by how much it swung there."""

    axis: str
    sign: int
    peak: int
    amount: float


def turning_points(values: np.ndarray, least: float) -> list[int]:
    """Where the values turn, each swing between two of them at least least: the lowest or highest value
    before the first swing, then each extreme in turn, and the last one when the burst ends on a swing."""
    if len(values) == 0:
        return []
    low = high = 0
    trend = 0  # +1: rising to an extreme not yet confirmed; -1: falling
    points: list[int] = []
    extreme = 0
    for i in range(1, len(values)):
        if trend == 0:  # no swing yet: the first point is the lowest or highest value so far
            low = i if values[i] <= values[low] else low  # the latest of equals: where a swing began
            high = i if values[i] >= values[high] else high
            if values[i] - values[low] >= least:
                points, trend, extreme = [low], 1, i
            elif values[high] - values[i] >= least:
                points, trend, extreme = [high], -1, i
        elif (values[i] - values[extreme]) * trend >= 0:
            extreme = i  # further the same way
        elif abs(values[extreme] - values[i]) >= least:
            points.append(extreme)
            trend, extreme = -trend, i
    if trend == 0:
        return [0]
    return points + [extreme]


def turns(across: np.ndarray, *, least: float, facing: float, full: float) -> list[Excursion]:
    """The turns the head made (see the module): least, half a turn's amount: a swing from facing that
    counts as a move (smaller: the noise of a head held still, about 0.05, would count); full: what a
    swing back through facing must reach past straight-on to count (a turn's amount: the judge's own)."""
    points = turning_points(across, least)
    found = []
    for base, peak in zip(points, points[1:]):
        sign = 1 if across[peak] > across[base] else -1
        far = sign * across[peak]  # how far past straight-on, on the side it swung to
        if abs(across[base]) <= facing:
            moved = far >= least and far > abs(across[base])
        else:
            moved = np.sign(across[base]) == -sign and far >= full
        if moved:
            found.append(Excursion("across", sign, peak, abs(across[peak] - across[base])))
    return found


def looks_up(down: np.ndarray, across: np.ndarray, *, least: float, facing: float, steady: float,
             around: int = 2) -> list[Excursion]:
    """The looks up the head made (see the module): down falling by at least least from a frame where
    |across| <= facing, while across moves less than steady over the swing and around frames either side."""
    points = turning_points(down, least)
    found = []
    for base, peak in zip(points, points[1:]):
        span = across[max(0, base - around) : peak + around + 1]
        if down[peak] < down[base] and abs(across[base]) <= facing and np.ptp(span) < steady:
            found.append(Excursion("down", -1, peak, float(down[base] - down[peak])))
    return found
