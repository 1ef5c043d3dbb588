"""What happens on a camera, as events: a face appeared, a person was named, a stranger was seen, someone
left. Made from the recognition results one camera's worker publishes, in that worker's thread.

Events follow who is in view, not frames: a person standing in front of a camera makes one `named`
event, however many frames they stand in, and a face that the tracker loses for a moment and finds
again (a new track) is the same presence while it is away for less than `leave_after`. An event holds
the camera, the track, the identity hash, the name, the similarity and the time; never an image or a
vector.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence

from recognition.faces import Box, FaceObservation

APPEARED, NAMED, VISITOR, LEFT = "appeared", "named", "visitor", "left"
MISSED_RESULTS = 3  # results someone must be missing from, besides leave_after seconds, before they left
KINDS = (APPEARED, NAMED, VISITOR, LEFT)


@dataclass(frozen=True)
class FaceEvent:
    """One thing that happened on a camera. id is given by the EventBus when it is published."""

    kind: str
    camera: str
    at: float  # unix time of the frame it was seen in
    track: Optional[int] = None
    identity_hash: Optional[str] = None
    name: Optional[str] = None
    similarity: Optional[float] = None
    visitor: Optional[str] = None  # a stranger's anonymous id (in memory only)
    id: str = ""

    def to_json(self) -> dict:
        """The same content for every sink: SSE, MQTT and webhooks."""
        return {"id": self.id, "type": self.kind, "camera": self.camera, "track": self.track,
                "hash": self.identity_hash, "name": self.name,
                "similarity": None if self.similarity is None else round(float(self.similarity), 4),
                "visitor": self.visitor, "at": round(self.at, 3)}


@dataclass(frozen=True)
class CameraState:
    """Who is on a camera now, as the MQTT state topic keeps it (retained)."""

    camera: str
    people: tuple[tuple[str, Optional[str]], ...]  # (identity hash, name), in order of appearance
    unknown: int
    at: float

    @property
    def summary(self) -> str:
        """One line for a sensor's state: the names (a nameless person by the start of their hash)."""
        names = [name or f"person {identity_hash[:8]}" for identity_hash, name in self.people]
        if self.unknown:
            names.append(f"{self.unknown} unknown")
        return ", ".join(names) if names else "nobody"

    def to_json(self) -> dict:
        return {"camera": self.camera, "summary": self.summary, "count": len(self.people) + self.unknown,
                "people": [{"hash": identity_hash, "name": name} for identity_hash, name in self.people],
                "unknown": self.unknown, "at": round(self.at, 3)}


@dataclass
class _Presence:
    """Someone in view: a named identity, a stranger (by visitor id) or a face not yet told apart (by track)."""

    event: FaceEvent  # the latest of their own events, whose fields `left` repeats
    last_seen: float
    box: Box  # where they were last seen
    tracks: set = field(default_factory=set)
    absent: int = 0  # results since they were last seen
    missed: int = 0  # of those, the results in which no new face could have been them
    could_be: frozenset = frozenset()  # a face not yet told apart: whose presences it may continue


class CameraEvents:
    """Turns one camera's results into events. observe() is called by the camera's worker for each
    result; close() when the camera goes, which reports everyone in view as having left.

    leave_after: seconds someone must be out of view before `left` (and before they count as arriving
    again): shorter reports a person turning away as leaving and coming back; longer reports a real
    departure later. resume_within: a new track that starts this soon where someone was just lost
    (the tracker losing a fast walker) is taken as them, with no `appeared` of its own; longer joins
    more broken tracks, and risks taking a second person who steps into the same place for the first."""

    def __init__(self, camera: str, publish: Callable[[FaceEvent], object],
                 on_state: Callable[[CameraState], object] = lambda state: None, *, leave_after: float = 3.0,
                 resume_within: float = 1.0) -> None:
        self.camera = camera
        self._publish = publish
        self._on_state = on_state
        self.leave_after = leave_after
        self.resume_within = resume_within
        self._present: dict[tuple, _Presence] = {}  # ("id", hash) | ("visitor", id) | ("track", n)
        self._tracks: dict[int, tuple] = {}  # track -> whose presence it currently shows
        self._track_seen: dict[int, float] = {}  # track -> when it was last seen (tracks gone are forgotten)
        self._state: Optional[CameraState] = None
        self._lock = threading.Lock()  # observe (the worker) against close (the thread removing the camera)

    def observe(self, faces: Sequence[FaceObservation], at: float) -> None:
        with self._lock:
            followed = [face for face in faces if face.track is not None]
            # The faces already followed first, so that everyone still in view counts as seen before a new
            # track is taken for someone just lost.
            for face in sorted(followed, key=lambda face: face.track not in self._tracks):
                self._see(face, at)
            # A face just come and not yet told apart may be someone already here (found again after the
            # tracker lost them, or after recognition stalled while they moved): until it is told, or for
            # leave_after, the presences it may continue do not count as missing.
            waiting = set().union(*(presence.could_be for key, presence in self._present.items()
                                    if key[0] == "track" and presence.last_seen == at
                                    and at - presence.event.at <= self.leave_after))
            for key, presence in list(self._present.items()):
                if presence.last_seen < at:
                    presence.absent += 1
                    presence.missed += key not in waiting
                gone = at - presence.last_seen
                # Out of view for leave_after, and in several results: when recognition stalls (the model
                # restarting, a machine short of time), nobody is seen and nobody leaves either. Twice that
                # long, someone leaves whatever new face might be them.
                if (gone > self.leave_after and presence.missed >= MISSED_RESULTS
                        or gone > 2 * self.leave_after and presence.absent >= MISSED_RESULTS):
                    self._leave(key, presence, at)
            self._forget_tracks(at)
            self._update_state(at)

    def close(self, at: float) -> None:
        with self._lock:
            for key, presence in list(self._present.items()):
                self._leave(key, presence, at)
            self._update_state(at)

    def _see(self, face: FaceObservation, at: float) -> None:
        track = face.track
        assert track is not None  # observe() passes followed faces only
        if track not in self._tracks:
            resumed = self._resumed(face, at)
            if resumed is not None:
                self._tracks[track] = resumed
            else:
                self._publish(FaceEvent(APPEARED, self.camera, at, track, face.identity_hash, face.name,
                                     face.similarity, face.visitor))
        key = _whose(face)
        previous = self._tracks.get(track)
        if key[0] == "track" and previous is not None:  # not told apart yet: still whoever it was
            key = previous
        if previous is not None and previous != key:
            self._moved_on(previous, track)
        self._tracks[track] = key
        presence = self._present.get(key)
        if presence is None:
            kind = NAMED if face.known else VISITOR if face.visitor is not None else None
            event = FaceEvent(kind or APPEARED, self.camera, at, track, face.identity_hash, face.name,
                              face.similarity, face.visitor)
            if kind is not None:
                self._publish(event)
            presence = self._present[key] = _Presence(event, at, face.box)
            if kind is None:
                presence.could_be = self._lost_near(face, at)
        elif face.known and face.name != presence.event.name:  # renamed while in view: its later events say so
            presence.event = replace(presence.event, name=face.name)
        presence.last_seen, presence.box, presence.missed, presence.absent = at, face.box, 0, 0
        presence.tracks.add(track)
        self._track_seen[track] = at

    def _lost_near(self, face: FaceObservation, at: float) -> frozenset:
        """The presences a new face may continue: not seen in this result, and either seen in the result
        just before (however far: recognition stalled, or the face jumped) or last seen within reach."""
        return frozenset(key for key, presence in self._present.items()
                         if presence.last_seen < at and (presence.absent == 0 or _near(presence.box, face.box)))

    def _forget_tracks(self, at: float) -> None:
        """Tracks not seen for leave_after are gone (the tracker keeps none that long): a presence that
        stays for hours does not gather every track that ever showed it."""
        for track, seen in list(self._track_seen.items()):
            if at - seen > self.leave_after:
                del self._track_seen[track]
                key = self._tracks.pop(track, None)
                presence = self._present.get(key) if key is not None else None
                if presence is not None:
                    presence.tracks.discard(track)

    def _resumed(self, face: FaceObservation, at: float) -> Optional[tuple]:
        """Whose presence a new track continues: someone lost within resume_within (or in the result just
        before, however long ago: recognition stalled), not seen in this result, whose face was last within
        a face and a half of this one (the nearest such), unless the new face is already told to be
        someone else."""
        box, whose = face.box, _whose(face)
        best, best_distance = None, float("inf")
        for key, presence in self._present.items():
            lost = presence.last_seen < at and (at - presence.last_seen <= self.resume_within or presence.absent == 0)
            if not lost or whose[0] != "track" and whose != key:
                continue
            distance = _distance(presence.box, box)
            if _near(presence.box, box) and distance < best_distance:
                best, best_distance = key, distance
        return best

    def _moved_on(self, previous: tuple, track: int) -> None:
        """A track now shows someone else (told apart, or named after being a stranger): the presence it
        showed goes quietly when no other track shows it, unless it was a named person's (then they leave
        as anyone does, after leave_after)."""
        presence = self._present.get(previous)
        if presence is None:
            return
        presence.tracks.discard(track)
        if not presence.tracks and previous[0] != "id":
            del self._present[previous]

    def _leave(self, key: tuple, presence: _Presence, at: float) -> None:
        del self._present[key]
        for track in presence.tracks:
            if self._tracks.get(track) == key:
                del self._tracks[track]
        self._publish(replace(presence.event, kind=LEFT, at=at))

    def _update_state(self, at: float) -> None:
        """Who is in view, as the events tell it (someone out of view for less than leave_after still
        is): the state agrees with the events, and does not flicker with every missed detection."""
        people = tuple((key[1], presence.event.name) for key, presence in self._present.items() if key[0] == "id")
        state = CameraState(self.camera, people, len(self._present) - len(people), at)
        if self._state is None or (state.people, state.unknown) != (self._state.people, self._state.unknown):
            self._state = state
            self._on_state(state)


def _distance(a: Box, b: Box) -> float:
    return ((a.x + a.w / 2 - b.x - b.w / 2) ** 2 + (a.y + a.h / 2 - b.y - b.h / 2) ** 2) ** 0.5


def _near(a: Box, b: Box) -> bool:
    """Within a face and a half, centre to centre: where a face lost by the tracker is found again."""
    return _distance(a, b) <= 1.5 * max(a.w, a.h, b.w, b.h)


def _whose(face: FaceObservation) -> tuple:
    if face.identity_hash is not None:
        return ("id", face.identity_hash)
    if face.visitor is not None:
        return ("visitor", face.visitor)
    return ("track", face.track)
