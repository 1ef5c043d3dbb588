"""The privacy search: beside the stream, it looks for every face in the newest frame, over and over, and
remembers each face it found for hold_for seconds with where it was going, so the stream can hide it
in every frame it sends, the frames between two searches included.

The stream thread never searches: it asks `hidden_at` for the boxes to hide in the frame it is about to
send, a few microseconds of arithmetic. Each remembered face is moved along its measured speed to that
frame's time and grown by a margin for the error of that guess, so a face that moves between searches
stays covered. A face not found again is held (still moving, its margin still growing) for hold_for
seconds: one missed search or a turn of the head does not uncover it.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import cv2
import numpy as np

from camera.frames import FrameFeed
from recognition.faces import Box
from recognition.live.tracker import overlap
from recognition.models.detectors import FaceDetector

log = logging.getLogger(__name__)

THUMB = (32, 18)  # a frame reduced to this, in grey, tells a scene cut from motion
GRID = 96  # cells across a frame in which motion since the last search is looked for
MOTION_LEVEL = 14  # change of a cell's mean grey (0-255) that counts as motion: well above a sensor's noise


@dataclass(frozen=True)
class HeldFace:
    box: Box  # where it was found last
    seen_at: float  # capture time of the frame it was found in
    speed: tuple[float, float]  # px/s of its centre, measured between two searches
    number: int = 0  # the same while the search keeps finding this face (an avatar's seed)
    shape: Optional[np.ndarray] = None  # its 68 landmarks as fractions of box, when avatars are drawn

    def shape_at(self, box: Box) -> Optional[np.ndarray]:
        """Its landmarks carried to box (where it is guessed to be), in pixels."""
        if self.shape is None:
            return None
        return self.shape * np.array([box.w, box.h]) + np.array([box.x, box.y])

    def moved(self, when: float) -> Box:
        """Where the face is guessed to be at time when, had it kept its speed."""
        dt = when - self.seen_at
        x, y = round(self.box.x + self.speed[0] * dt), round(self.box.y + self.speed[1] * dt)
        return Box(x, y, self.box.w, self.box.h)

    def cover(self, when: float, margin: float, width: int, height: int) -> Box:
        """The patch that hides the face at time when: where it is guessed to be, grown by margin of its
        side always, by as far again as it moved since (its pace may change), and by half a side per
        second unseen (it may turn, stop or start)."""
        dt = when - self.seen_at  # below zero for a frame captured before the search's: back in time
        dx, dy = self.speed[0] * dt, self.speed[1] * dt
        dt = abs(dt)
        side = max(self.box.w, self.box.h)
        grow_x = margin * side + abs(dx) + 0.5 * side * min(dt, 1.0)
        grow_y = margin * side + abs(dy) + 0.5 * side * min(dt, 1.0)
        x0 = max(0, int(self.box.x + dx - grow_x))
        y0 = max(0, int(self.box.y + dy - grow_y))
        x1 = min(width, int(self.box.x + self.box.w + dx + grow_x) + 1)
        y1 = min(height, int(self.box.y + self.box.h + dy + grow_y) + 1)
        return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


@dataclass(frozen=True)
class HiddenFace:
    face: Box  # where the face is guessed to be
    cover: Box  # the patch to pixelate
    found: bool = True  # a face the search found; False: a place where something moved (never left clear)
    number: int = 0  # HeldFace.number
    shape: Optional[np.ndarray] = None  # its landmarks where it is guessed to be, when avatars are drawn


@dataclass(frozen=True)
class SearchResult:
    """The faces held after one search. Immutable: the stream reads it without a lock."""

    frame_seq: int
    captured_at: float
    size: tuple[int, int]  # the searched frame's height and width: boxes are in its pixels
    thumb: np.ndarray  # the searched frame, tiny and grey
    grid: np.ndarray  # the searched frame in cells, grey: where something moved since is hidden too
    faces: tuple[HeldFace, ...]


def glance(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thumbnail, grid) of a frame, both grey: the tiny picture that tells a scene cut, and the cells in
    which motion is looked for. The stream takes both of every frame it sends, so the frame is greyed
    once and averaged down once (area averaging the three channels of a 1080p frame took 11 ms; this, 2)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    height, width = grey.shape[:2]
    grid = cv2.resize(grey, (GRID, max(1, round(GRID * height / width))), interpolation=cv2.INTER_AREA)
    return cv2.resize(grid, THUMB, interpolation=cv2.INTER_AREA), grid.astype(np.int16)


def scene_cut(a: np.ndarray, b: np.ndarray, level: float = 12.0) -> bool:
    """Whether two thumbnails show different scenes (a cut, the camera moved, was covered or changed its
    exposure): the mean change of a pixel (0-255) beyond level. A crowd walking through a street changes
    it by 2 at most in a second; a cut to another street by 25."""
    return float(cv2.absdiff(a, b).mean()) > level


class Shield(Protocol):
    """What the stream's privacy filter and /health use of the privacy search (FaceShield)."""

    @property
    def latest(self) -> Optional[SearchResult]:
        """The newest search's result (None before the first)."""

    @property
    def detector(self) -> str:
        """The name of the detector that searches."""

    @property
    def running(self) -> bool: ...

    def rate(self) -> float:
        """Searches a second since the start."""

    def hidden_at(self, image: np.ndarray, captured_at: float, max_lag: float) -> Optional[list["HiddenFace"]]:
        """The faces to hide in a frame captured at captured_at; None when the search cannot vouch for it."""


class FaceShield:
    """hold_for: seconds a face is hidden after it was last found (longer: a face missed by a few
    searches stays covered, at the cost of blurring a place someone left); margin: how much larger than
    the face (in face sides) the hidden patch is, before the allowance for motion; max_rate: searches a
    second at most (more: newcomers found sooner, and less of the frame hidden for motion between
    searches; fewer: more CPU left to the stream and recognition)."""

    def __init__(self, feed: FrameFeed, finder: FaceDetector, *, hold_for: float = 1.0, margin: float = 0.3,
                 poll_timeout: float = 0.5, max_rate: float = 4.0,
                 shapes: Optional[Callable[[np.ndarray, Box], np.ndarray]] = None) -> None:
        """shapes: a face's 68 landmarks in an image, for avatars: taken here, beside the stream, with
        each face found (a millisecond a face), and carried with the face to every frame streamed."""
        self._gap = 1.0 / max_rate
        self._shapes = shapes
        self._numbers = itertools.count(1)
        self._feed = feed
        self._finder = finder
        self.hold_for = hold_for
        self.margin = margin
        self._poll_timeout = poll_timeout
        self._latest: Optional[SearchResult] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="privacy-search", daemon=True)
        self.searched = 0
        self._started = time.monotonic()
        self._warned = False

    @property
    def latest(self) -> Optional[SearchResult]:
        return self._latest

    @property
    def detector(self) -> str:
        return self._finder.name

    def start(self) -> "FaceShield":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def search(self, image: np.ndarray, seq: int, captured_at: float) -> SearchResult:
        """Search one frame and update the faces held: what the thread does with each newest frame."""
        started = time.monotonic()
        found = self._finder.candidates(image)
        took = time.monotonic() - started
        if took > 0.5 and not self._warned:
            self._warned = True
            log.warning("a privacy search took %.2f s with %s: the stream hides whole frames while the search is "
                        "more than a little behind; a faster --detector blur=... or a larger --min-face helps",
                        took, self._finder.name)
        previous, (thumb, grid) = self._latest, glance(image)
        held = list(previous.faces) if previous is not None else []
        if previous is not None and (scene_cut(previous.thumb, thumb) or previous.size != image.shape[:2]):
            held = []  # another scene: what was held is elsewhere now, and the new faces are all found afresh
        faces: list[HeldFace] = []
        matched: set[int] = set()  # id() of the held faces found again
        for box in found:
            before = _nearest(box, held, captured_at, matched)
            speed = (0.0, 0.0)
            if before is not None:
                matched.add(id(before))
                dt = captured_at - before.seen_at
                if dt > 1e-3:
                    measured = ((_cx(box) - _cx(before.box)) / dt, (_cy(box) - _cy(before.box)) / dt)
                    # Averaged with the last measure: a box's jitter is not a change of pace.
                    speed = (0.5 * (measured[0] + before.speed[0]), 0.5 * (measured[1] + before.speed[1]))
            number = before.number if before is not None else next(self._numbers)
            faces.append(HeldFace(box, captured_at, speed, number, self._shape(image, box)))
        faces += [face for face in held if id(face) not in matched and captured_at - face.seen_at <= self.hold_for]
        result = SearchResult(seq, captured_at, image.shape[:2], thumb, grid, tuple(faces))
        self._latest = result
        self.searched += 1
        return result

    def hidden_at(self, image: np.ndarray, captured_at: float, max_lag: float) -> Optional[list["HiddenFace"]]:
        """The boxes to hide in a frame captured at captured_at, or None when the search cannot vouch for
        it and the whole frame must be hidden: no search yet, the last one older than max_lag seconds,
        or a scene other than the one last searched."""
        result = self._latest
        if result is None or captured_at - result.captured_at > max_lag:
            return None
        thumb, grid = glance(image)
        if result.size != image.shape[:2] or scene_cut(result.thumb, thumb):
            return None  # the camera's resolution changed, or another scene: the held boxes are elsewhere
        height, width = image.shape[:2]
        held, found = [], []
        for face in result.faces:
            if captured_at - face.seen_at > self.hold_for + max_lag:
                continue
            moved = face.moved(captured_at)
            hidden = HiddenFace(moved, face.cover(captured_at, self.margin, width, height), True, face.number,
                                face.shape_at(moved))
            held.append(hidden)
            # Motion is explained only by the people found in that very search: where someone held from
            # an earlier one was, someone else may have come in.
            if face.seen_at == result.captured_at:
                found.append(hidden.cover)
        return held + [HiddenFace(box, box, found=False)
                       for box in moved_since(result.grid, grid, image.shape[:2], found)]

    def _shape(self, image: np.ndarray, box: Box) -> Optional[np.ndarray]:
        if self._shapes is None or box.w < 2 or box.h < 2:
            return None
        points = self._shapes(image, box)
        return (points - np.array([box.x, box.y])) / np.array([box.w, box.h])

    def rate(self) -> float:
        """Searches a second since the start."""
        return self.searched / max(1e-6, time.monotonic() - self._started)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            frame = self._feed.wait_newer(seq, self._poll_timeout)
            if frame is None:
                continue
            seq, started = frame.seq, time.monotonic()
            try:
                self.search(frame.image, frame.seq, frame.captured_at)
            except Exception:  # the stream hides whole frames while searches fail (max_lag), never less
                log.exception("privacy search failed on frame %d", frame.seq)
                self._stop.wait(0.5)
            self._stop.wait(max(0.0, self._gap - (time.monotonic() - started)))


def moved_since(searched: np.ndarray, now: np.ndarray, size: tuple[int, int], covers: Sequence[Box]) -> list[Box]:
    """Where something moved since the searched frame, away from the faces held and the bodies below
    them: someone who stepped in (from behind a pillar, through a door, at the frame's edge) since the
    last search. Hidden until a search has looked there: a face may be in it. searched and now: the two
    frames' grids (glance); size: the frame's height and width."""
    height, width = size
    if now.shape != searched.shape:  # another camera resolution: hide it all rather than guess
        return [Box(0, 0, width, height)]
    changed = (np.abs(now - searched) > MOTION_LEVEL).astype(np.uint8)
    scale = GRID / width
    for box in covers:
        # A found person walks: their face moves within its cover, and their body below it from about a
        # face's height under the chin (nearer, a face sinking into the body's place would be let through).
        changed[max(0, int(box.y * scale)) : int((box.y + box.h) * scale) + 1,
                max(0, int(box.x * scale)) : int((box.x + box.w) * scale) + 1] = 0
        side = box.h / 2  # the cover is about twice the face
        changed[max(0, int((box.y + box.h + side) * scale)) : int((box.y + box.h + 4 * side) * scale) + 1,
                max(0, int(box.x * scale)) : int((box.x + box.w) * scale) + 1] = 0
    if not changed.any():
        return []
    # Grown by two cells each way: a face whose edge alone changed enough (it came in at that edge).
    changed = cv2.dilate(changed, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(changed)
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        left, top = int(x / scale), int(y / scale)
        right, bottom = min(width, int((x + w) / scale) + 1), min(height, int((y + h) / scale) + 1)
        boxes.append(Box(left, top, right - left, bottom - top))
    return boxes


def _nearest(box: Box, held: Sequence[HeldFace], now: float, taken: set) -> Optional[HeldFace]:
    """The held face this box is (the most overlapping where it was guessed to be now), if any."""
    best, best_overlap = None, 0.0
    for face in held:
        if id(face) in taken:
            continue
        score = overlap(box, face.moved(now))
        if score > best_overlap:
            best, best_overlap = face, score
    return best if best_overlap >= 0.1 else None


def _cx(box: Box) -> float:
    return box.x + box.w / 2


def _cy(box: Box) -> float:
    return box.y + box.h / 2
