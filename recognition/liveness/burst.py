"""Checking a burst of camera frames: the head made the asked moves, and it is one person throughout.

The frames are only looked at in memory, one at a time (BurstLooker): each one's faces and pose are
read and the decoded image is dropped, so a burst never holds more than one decoded frame. Then a few
frames spread over the burst are decoded again and embedded (every one that faces the camera enough
while the head moves, where a swap would be, up to MAX_CHAIN, and the frame facing the camera most
squarely) to follow one person through it. The squarest frame's embedding is the one to enroll; all
the embedded faces are returned too, since someone is recognised by whichever of them is most like them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from recognition.faces import Box
from recognition.liveness.judge import FrameLook, Move, Verdict, judge
from recognition.liveness.pose import HeadPoseModel
from recognition.pipeline.analyzer import FaceAnalyzer

FRAMES_PER_MOVE = 24  # what the page records per asked move: 2.4 s at ten frames a second
MAX_FRAMES = 4 * FRAMES_PER_MOVE + 16  # four moves (the most a challenge asks), with room to spare
MAX_EMBEDDED_TURN = 0.35  # nose-tip parallax (pose.py): about 40 degrees
CHAIN = 10  # frames spread over the burst, embedded to follow the person through it (about 40 ms each)
MAX_CHAIN = 16  # frames of the movement embedded at most (about 90 ms each on a busy machine): spread beyond
MIN_VIEWS = 3  # embedded frames needed to call the burst one person


@dataclass(frozen=True)
class BurstCheck:
    verdict: Verdict  # the movement, before anything about identity
    alike: Optional[float] = None  # how alike the embedded frames are, at their weakest link (weakest_link)
    embedding: Optional[np.ndarray] = None  # the squarest frame's face: set only when everything passed
    box: Optional[Box] = None  # the squarest face seen (also when the check failed) ...
    frame: Optional[int] = None  # ... and in which frame
    embeddings: Optional[np.ndarray] = None  # every embedded frame's face (one person): to recognise them by
    image: Optional[np.ndarray] = None  # the squarest frame, decoded again (for the caller's records)

    @property
    def passed(self) -> bool:
        return self.embedding is not None

    @property
    def reason(self) -> str:
        if not self.verdict.passed:
            return self.verdict.reason
        if self.embedding is None:
            return "the face changed during the movement: only one person may be in front of the camera"
        return "moved as asked"

    def to_json(self) -> dict:
        return {**self.verdict.to_json(), "passed": self.passed, "reason": self.reason,
                "same_person": None if self.alike is None else round(self.alike, 4)}


def look_at(frame: np.ndarray, analyzer: FaceAnalyzer, poses: HeadPoseModel, previous: Optional[Box]) -> FrameLook:
    """The faces in one frame and the pose of the biggest (or, when the frontal cascade lost a turned
    head, of the face found near where it was a frame ago)."""
    boxes = analyzer.detector.detect(frame)
    if not boxes and previous is not None:
        boxes = [found.box for found in analyzer.detector.detect_near(frame, [previous])][:1]
    if not boxes:
        return FrameLook(faces=0)
    return FrameLook(faces=len(boxes), box=boxes[0], pose=poses.pose(frame, boxes[0]))


class BurstLooker:
    """Looks at a burst's frames as they come (oldest first), keeping what each showed, never the image."""

    def __init__(self, analyzer: FaceAnalyzer, poses: HeadPoseModel) -> None:
        self.analyzer = analyzer
        self.poses = poses
        self.looks: list[FrameLook] = []

    def look(self, frame: np.ndarray) -> FrameLook:
        previous = self.looks[-1].box if self.looks and self.looks[-1].box else None
        self.looks.append(look_at(frame, self.analyzer, self.poses, previous))
        return self.looks[-1]

    def check(self, moves: Union[Move, Sequence[Move]], frame_at: Callable[[int], np.ndarray]) -> BurstCheck:
        """Whether the frames looked at show one person making the asked moves; frame_at(i) gives the
        i-th frame again (decoded anew) for the few that are embedded."""
        return follow_person(self.looks, judge(self.looks, moves), frame_at, self.analyzer)


def check_burst(frames: list[np.ndarray], moves: Union[Move, Sequence[Move]], analyzer: FaceAnalyzer,
                poses: HeadPoseModel) -> BurstCheck:
    """Whether the frames (oldest first, already decoded) show one person making the asked moves."""
    looker = BurstLooker(analyzer, poses)
    for frame in frames[:MAX_FRAMES]:
        looker.look(frame)
    return looker.check(moves, frames.__getitem__)


def follow_person(looks: list[FrameLook], verdict: Verdict, frame_at: Callable[[int], np.ndarray],
                  analyzer: FaceAnalyzer) -> BurstCheck:
    """After the judge: whether the frames it followed are one person (by the embedding model)."""
    usable = [i for i, look in enumerate(looks) if look.faces == 1 and look.pose is not None]
    squarest = min(usable, key=lambda i: abs(looks[i].known_pose.across)) if usable else None
    if not verdict.passed:  # which face it was still matters (failures are counted against its person)
        return BurstCheck(verdict, box=None if squarest is None else looks[squarest].box, frame=squarest,
                          image=None if squarest is None else frame_at(squarest))
    # Far-turned faces embed poorly (two frames of one head at 50 degrees can fall below the threshold),
    # so the person is followed through the frames turned less than that: those while the head moves
    # (where a swap would be; spread out beyond MAX_CHAIN) and some spread over the rest.
    squarest = min(verdict.followed, key=lambda i: abs(looks[i].known_pose.across))  # not one the judge left out
    facing = [i for i in verdict.followed if abs(looks[i].known_pose.across) <= MAX_EMBEDDED_TURN]
    start, end = verdict.span()
    moving = [i for i in facing if start <= i <= end]
    moving = moving[:: -(-len(moving) // MAX_CHAIN)] if moving else []
    chosen = sorted({squarest, *moving, *facing[:: max(1, len(facing) // (CHAIN - 1))], *facing[-1:]})
    if len(chosen) < MIN_VIEWS:
        return BurstCheck(Verdict(False, "face the camera before and after the movement, and move less far",
                                  verdict.moved, verdict.needed, verdict.usable, verdict.start, verdict.end,
                                  verdict.steps), box=looks[squarest].box, frame=squarest, image=frame_at(squarest))
    chips, image = [], None
    for i in chosen:  # decoded again one at a time: only the squarest frame is kept, for the caller
        frame = frame_at(i)
        chips.append(analyzer.chips(frame, [looks[i].known_box])[0])
        if i == squarest:
            image = frame
    vectors = analyzer.embedder.embed(chips)
    alike = weakest_link(vectors)
    if alike < analyzer.matcher.threshold:
        return BurstCheck(verdict, alike, box=looks[squarest].box, frame=squarest, image=image)
    return BurstCheck(verdict, alike, vectors[chosen.index(squarest)], looks[squarest].box, squarest, vectors, image)


def weakest_link(vectors: np.ndarray) -> float:
    """How alike the least alike step is on the best path joining all the faces (the smallest edge of
    the maximum spanning tree of their similarities): at or above the threshold exactly when every
    face is tied to every other through faces of one person. Two frames a second apart need not reach
    the threshold themselves (a turn, a change of expression); a face swapped for someone else's splits
    the faces into two groups that nothing ties together."""
    similarity = vectors @ vectors.T
    joined, weakest = [0], 1.0
    best = similarity[0].copy()
    best[0] = -np.inf
    while len(joined) < len(vectors):
        nearest = int(np.argmax(best))
        weakest = min(weakest, float(best[nearest]))
        joined.append(nearest)
        best = np.maximum(best, similarity[nearest])
        best[joined] = -np.inf
    return weakest
