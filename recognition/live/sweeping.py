"""How the live loop uses the CNN sweep (models/sweep.py): ask it now and then, add the faces it found
that the cascades did not, and follow those faces between sweeps while they keep looking the same.

A sweep answers a few frames late (it takes about 200 ms on the other core), so each face it found is
looked for again in the current frame: its picture, cut from the frame the sweep saw, is searched near
where it was (template matching). The cascades cannot see such a face (that is why the sweep found
it), so between sweeps its track follows that picture the same way, as long as it is found, for
hold_for seconds at most without a new sweep.
Faces found this way count as turned away: reported, blurred, never embedded, never named on their own.
"""
from __future__ import annotations

import threading
import time
from typing import Optional, Protocol, Sequence

import cv2
import numpy as np

from recognition.faces import Box, Detection, centre_inside
from recognition.live.tracker import SAME_LOOK, Track, overlap


class Sweep(Protocol):
    @property
    def busy(self) -> bool: ...

    def submit(self, image: np.ndarray) -> bool: ...

    def collect(self) -> Optional[list[Box]]: ...


STALLED = 1.0  # seconds: a sweep's owner that has not collected its answer by then is not waited for


class SharedSweep:
    """One sweep process for every camera: each camera sees it through its own turn (for_camera), busy
    while any camera's sweep is in flight, and collects only the answers to its own frames. Any camera
    asking for a sweep first collects the one in flight for whoever sent it (kept for them), so a
    camera that stalled, was starved or was removed never holds the sweep for the others."""

    def __init__(self, sweep: Sweep) -> None:
        self._sweep = sweep
        self._lock = threading.Lock()
        self._owner: Optional[object] = None  # the turn whose frame the sweep in flight is looking at
        self._submitting = False  # a turn is handing a frame over (a restarted child can take seconds)
        self._submitted_at = float("-inf")
        self._answers: dict[int, tuple[object, list[Box]]] = {}  # id(turn) -> (turn, faces found for it)

    def for_camera(self) -> "SweepTurn":
        return SweepTurn(self)

    def busy(self) -> bool:
        """Whether a sweep is in flight, or answered and not yet collected by its owner. An owner that
        has not collected its answer for STALLED seconds (its camera gives no frames, so it never does)
        no longer holds the sweep: asking collects it for them. Sooner would let every camera sweep as
        often as it likes, and the sweep process (at the streams' priority) would take the CPU that
        recognition shares."""
        with self._lock:
            if not self._submitting and time.monotonic() - self._submitted_at > STALLED:
                self._collect_for_owner()
            return self._submitting or self._owner is not None or self._sweep.busy

    def submit(self, turn: object, image: np.ndarray) -> bool:
        with self._lock:
            if self._submitting:
                return False
            self._collect_for_owner()
            if self._owner is not None or self._sweep.busy:
                return False
            self._owner, self._submitting, self._submitted_at = turn, True, time.monotonic()
        submitted = False
        try:  # outside the lock: a child started again here may take seconds, and nobody waits on it
            submitted = self._sweep.submit(image)
            return submitted
        finally:
            with self._lock:
                self._submitting = False
                if not submitted:
                    self._owner = None

    def collect(self, turn: object) -> Optional[list[Box]]:
        with self._lock:
            kept = self._answers.pop(id(turn), None)
            if kept is not None:
                return kept[1]
            if self._owner is not turn or self._submitting:
                return None
            found = self._sweep.collect()
            if not self._sweep.busy:  # answered, or given up on (its own timeout): the next camera may ask
                self._owner = None
            return found

    def _collect_for_owner(self) -> None:
        """Under the lock: take the answer of the sweep in flight, if it came, and keep it for its owner
        (dropped when the owner went away)."""
        if not self._sweep.busy:
            return
        found = self._sweep.collect()
        if self._sweep.busy:
            return
        if found is not None and self._owner is not None:
            self._answers[id(self._owner)] = (self._owner, found)
        self._owner = None

    def release(self, turn: object) -> None:
        """A camera goes away: the sweep it may have in flight (read and dropped at the next ask), and an
        answer kept for it, are no one's."""
        with self._lock:
            self._answers.pop(id(turn), None)
            if self._owner is turn:
                self._owner = None


class SweepTurn:
    """One camera's view of a SharedSweep, with the Sweep protocol's three members."""

    def __init__(self, shared: SharedSweep) -> None:
        self._shared = shared

    @property
    def busy(self) -> bool:
        return self._shared.busy()

    def submit(self, image: np.ndarray) -> bool:
        return self._shared.submit(self, image)

    def collect(self) -> Optional[list[Box]]:
        return self._shared.collect(self)

    def close(self) -> None:
        self._shared.release(self)


class SweepLook:
    """every_while_held: seconds between sweeps while a face only the sweep sees is followed (to
    confirm it); every_on_motion: between sweeps when something moved and no face needs embedding."""

    def __init__(self, sweep: Sweep, *, every_while_held: float = 0.5, every_on_motion: float = 3.0,
                 hold_for: float = 3.0, same_face: float = 0.3) -> None:
        self._sweep = sweep
        self._every_while_held = every_while_held
        self._every_on_motion = every_on_motion
        self._hold_for = hold_for
        self._same_face = same_face
        self._submitted_at = float("-inf")
        self._sent: Optional[np.ndarray] = None  # the frame the sweep in flight is looking at
        self._fresh: dict[int, np.ndarray] = {}  # id of a detection from a sweep -> the face's picture
        self._looks: dict[int, np.ndarray] = {}  # track id -> the face's picture when the sweep found it

    def add(self, image: np.ndarray, now: float, tracks: Sequence[Track],
            detections: list[Detection]) -> list[Detection]:
        """Detections to add to this frame's: the faces a finished sweep found that none of detections
        covers, and the faces the sweep found before, where they are followed to."""
        extra, self._fresh = [], {}
        found, sent = self._sweep.collect(), self._sent
        for box in found or []:
            if sent is None:  # maybe_submit keeps the frame of every sweep it submits
                raise RuntimeError("a face sweep answered, but the frame it looked at was not kept")
            look = picture(sent, box)
            now_box = follow(image, box, look)  # where that face is by now
            if now_box is None or any(overlap(now_box, d.box) >= self._same_face or centre_inside(now_box, d.box)
                                      for d in detections):
                continue
            extra.append(Detection(now_box, profile=True))
            self._fresh[id(extra[-1])] = look
        if found is not None:
            self._sent = None
        for track in tracks:
            held_look = self._looks.get(track.id)
            if track.swept_at is None or now - track.swept_at > self._hold_for or held_look is None:
                continue
            if any(overlap(track.box, d.box) >= self._same_face for d in detections + extra):
                continue
            followed = follow(image, track.box, held_look)
            if followed is not None:
                extra.append(Detection(followed, profile=True))
        return extra

    def joined(self, image: np.ndarray, now: float, live: Sequence[tuple[Track, Optional[Detection]]]) -> None:
        """Note which tracks the sweep's faces joined or started: they are held until the next sweep."""
        for track, detection in live:
            if detection is not None and id(detection) in self._fresh:
                track.swept_at = now
                self._looks[track.id] = self._fresh[id(detection)]
            elif detection is not None and not detection.profile:
                track.swept_at = None  # the cascades see it now
        alive = {track.id for track, _ in live if track.swept_at is not None}
        self._looks = {id_: look for id_, look in self._looks.items() if id_ in alive}

    def maybe_submit(self, image: np.ndarray, now: float, tracks: Sequence[Track], moved: bool,
                     embedding: bool) -> None:
        """Sweep this frame if it is time: never while faces wait to be embedded (the sweep would slow
        the first name of a newcomer), again soon while a face only the sweep sees is followed, now
        and then when something moved."""
        if embedding or self._sweep.busy:
            return
        held = any(t.swept_at is not None for t in tracks)
        wait = self._every_while_held if held else self._every_on_motion
        if (held or moved) and now - self._submitted_at >= wait and self._sweep.submit(image):
            self._submitted_at, self._sent = now, image


LOOK_SIDE = 24  # pixels: a face's picture small enough to look for in a few hundred microseconds


def picture(image: np.ndarray, box: Box) -> np.ndarray:
    """The face as a small grey picture, to find again in later frames."""
    crop = image[max(0, box.y) : box.y + box.h, max(0, box.x) : box.x + box.w]
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (LOOK_SIDE, LOOK_SIDE), interpolation=cv2.INTER_AREA)


def follow(image: np.ndarray, box: Box, look: np.ndarray) -> Optional[Box]:
    """Where the face pictured in look is now, searched within half a face of box; None when nothing
    there looks enough like it (it turned, left, or something covers it)."""
    scale = LOOK_SIDE / max(box.w, box.h, 1)
    margin = max(box.w, box.h) // 2
    height, width = image.shape[:2]
    left, top = max(0, box.x - margin), max(0, box.y - margin)
    right, bottom = min(width, box.x + box.w + margin), min(height, box.y + box.h + margin)
    region = image[top:bottom, left:right]
    if region.size == 0:
        return None
    gray = region if region.ndim == 2 else cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    if small.shape[0] < LOOK_SIDE or small.shape[1] < LOOK_SIDE:
        return None  # the face is cut by the frame's edge
    scores = cv2.matchTemplate(small, look, cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    if best < SAME_LOOK:
        return None
    return Box(left + round(x / scale), top + round(y / scale), box.w, box.h)
