"""One camera's recognition, frame after frame: detect, follow, embed the tracks that need it, match,
vote, and give strangers visitor ids. Owned by the recognition worker's thread alone.

Work is per track, not per frame: a new or undecided track is embedded in every analysed frame until
its evidence is clear; a named one only every recheck_after seconds (to notice a swap), so two named
people on screen cost a fraction of what re-embedding them every frame did. Likewise the whole frame is
searched for faces only when something moved outside the followed faces (motion.py), or every
full_search_every seconds; otherwise only the neighbourhood of each followed face is looked at, and
not even that where the face's picture has not changed since a cascade last found it. Faces
the cascades cannot see at all (turned well away, very close) are left to a CNN sweep now and then
(sweeping.py).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Iterable, Optional, Sequence

import numpy as np

from recognition.faces import Detection, FaceObservation
from recognition.live.budget import ARRIVAL, IDLE, NEWCOMER, QUIET, RECHECK
from recognition.live.motion import MotionGate
from recognition.live.priority import yield_to_the_stream
from recognition.live.sweeping import Sweep, SweepLook
from recognition.live.tracker import SAME_LOOK, STILL, Sighting, Track, Tracker, signature
from recognition.live.visitors import VisitorBook
from recognition.live.voting import Voting, keep_unique
from recognition.models.detectors import FaceDetector
from recognition.models.quality import face_quality
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.gallery import gallery_of
from recognition.store.identity import Identity


class LiveRecognizer:
    """recheck_after: seconds between re-embeddings of a named track (lower: a swap of people in one
    track is noticed sooner, at more work per frame)."""

    def __init__(self, analyzer: FaceAnalyzer, *, recheck_after: float = 2.0, full_search_every: float = 4.0,
                 voting: Voting = Voting(), tracker: Optional[Tracker] = None,
                 visitors: Optional[VisitorBook] = None, sweep: Optional[Sweep] = None,
                 detector: Optional[FaceDetector] = None, max_embeds: Optional[int] = None) -> None:
        self._analyzer = analyzer
        self._detector = detector or analyzer.detector  # --detector live=...: may differ from the photos' one
        self._recheck_after = recheck_after
        # Faces embedded per frame at most (None: every face due). Cameras that share the model take turns,
        # and a crowd's turn must not hold a door's newcomer for the time of twenty embeddings: the faces
        # left out are due again in the next frame, the undecided and least seen first.
        self._max_embeds = max_embeds
        self._full_search_every = full_search_every  # even when nothing seems to move: a safety net
        self._searched_at = float("-inf")
        self._motion = MotionGate()
        self._moved = True
        self._looked: Optional[tuple[int, bool]] = None  # (id of a frame, whether it moved), from urgency_of
        self._voting = voting
        self._tracker = tracker or Tracker()
        self._visitors = visitors if visitors is not None else VisitorBook(analyzer.matcher.threshold)
        self._sweep = SweepLook(sweep) if sweep is not None else None  # faces the cascades miss
        # Embeds while this thread searches the rest of the frame (the model works in its own process).
        self._meanwhile = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-meanwhile",
                                              initializer=yield_to_the_stream)
        self.embedded = 0  # faces embedded so far: what the per-track schedule saves

    def advance(self, image: np.ndarray, now: float) -> None:
        """Follow the faces of a new frame and embed the tracks that are due. When the whole frame is
        searched, the faces to embed are sent to the model as soon as the frontal faces are known, and
        the profile search runs while the model works: a newcomer is named that much sooner."""
        tracks = self._tracker.tracks
        looked, self._looked = self._looked, None
        if looked is not None and looked[0] == id(image):
            moved = looked[1]
        else:  # a newer frame than urgency_of saw: what moved in either counts
            moved = self._moved_in(image) or (looked is not None and looked[1])
        self._moved = moved
        whole = moved or now - self._searched_at >= self._full_search_every
        if whole:
            self._searched_at = now
            detections, still = [Detection(box) for box in self._detector.detect(image)], list[Detection]()
        else:
            detections, still = self._look_near(image, tracks)
        self._tracker.join(detections, now)
        due = [(track, detection) for track, detection in self._tracker.joined()
               if not detection.profile and self._due(track, image, now)]
        if self._max_embeds is not None and len(due) > self._max_embeds:
            # The undecided (and the named overdue a re-check) first; of them the least seen, then the least
            # recently embedded: every face gets its turn, whatever the crowd.
            due.sort(key=lambda pair: (self._decided(pair[0]) and now - pair[0].embedded_at < 2 * self._recheck_after,
                                       len(pair[0].sightings), pair[0].embedded_at))
            due = due[: self._max_embeds]
        boxes = [detection.box for _, detection in due]
        embedding = self._meanwhile.submit(self._embed, image, boxes) if due and whole else None
        later = self._detector.detect_profiles(image, boxes_of(detections)) if whole else []
        if self._sweep is not None:
            later += self._sweep.add(image, now, self._tracker.tracks, detections + later)
        self._tracker.join(later, now)
        live = self._tracker.close()
        held = {id(d) for d in still}
        for track, detection in live:
            if detection is not None and id(detection) not in held:
                track.look = signature(image, detection.box)  # as a cascade last found it
        if self._sweep is not None:
            self._sweep.joined(image, now, live)
            self._sweep.maybe_submit(image, now, self._tracker.tracks, moved, embedding=bool(due))
        if not due:
            return
        qualities, embeddings = (embedding.result(timeout=EMBED_WAIT) if embedding is not None
                                 else self._embed(image, boxes))
        matches = self._analyzer.matcher.identify(embeddings)  # within one frame, one face per identity
        for (track, detection), embedding_, quality, match in zip(due, embeddings, qualities, matches):
            track.sightings.append(Sighting(now, embedding_, quality, match))
            track.embedded_at = now
            track.signature = signature(image, detection.box)
        self.embedded += len(due)

    def close(self) -> None:
        self._meanwhile.shutdown(wait=False)

    def _look_near(self, image: np.ndarray, tracks: Sequence[Track]) -> tuple[list[Detection], list[Detection]]:
        """(detections, the part of them that are unchanged faces left where they were). Nothing new can
        have come in: only the followed faces are looked for (the sweep's are the sweep's to follow),
        and not even those whose picture has not changed since a cascade last found them."""
        looked_for = [track for track in tracks if track.swept_at is None]
        unchanged = {id(t) for t in looked_for
                     if t.look is not None and float(signature(image, t.box) @ t.look) >= STILL}
        still = [Detection(t.box, t.profile) for t in looked_for if id(t) in unchanged]
        changed = [t.box for t in looked_for if id(t) not in unchanged]
        return still + (self._detector.detect_near(image, changed) if changed else []), still

    def _embed(self, image: np.ndarray, boxes: list) -> tuple[list[float], np.ndarray]:
        """(quality, embedding) of each face."""
        aligner = self._analyzer.aligner
        qualities = [face_quality(image, box, aligner.landmarks(image, box)).overall for box in boxes]
        return qualities, self._analyzer.embedder.embed(self._analyzer.chips(image, boxes))

    @property
    def settled(self) -> bool:
        """Faces are followed, every one of them is decided and nothing moved outside them: the worker
        may analyse fewer frames until that changes (a newcomer moves, and is noticed at the next look).
        An empty still scene is not settled: looking at it costs only the motion check, and a newcomer
        is then noticed in the very next frame."""
        seen = [t for t in self._tracker.tracks if t.misses == 0]
        return bool(seen) and not self._moved and all(self._decided(t) for t in seen)

    def _moved_in(self, image: np.ndarray) -> bool:
        return self._motion.moved(image, [track.box for track in self._tracker.tracks])

    def urgency_of(self, image: np.ndarray, now: float) -> int:
        """What analysing this frame is for, when cameras share the cores (budget.py): someone arriving
        (movement in a scene with nobody followed, or a face followed but never embedded) comes first,
        then a face not yet decided; then re-checking the people named; then an empty scene's full
        search now and then. An empty, still scene between those searches is QUIET: advance() then only
        checks for motion (done here already), which needs no turn."""
        tracks = self._tracker.tracks
        seen = [t for t in tracks if t.misses == 0]
        if any(not t.sightings and not t.profile for t in seen):
            return ARRIVAL
        if any(not self._decided(t) for t in seen):
            return NEWCOMER
        if tracks:  # the people named, and faces missed in the last frame (looked for near where they were)
            return RECHECK
        # Motion seen in a frame that was never analysed (its turn timed out) still counts.
        moved = self._moved_in(image) or (self._looked is not None and self._looked[1])
        self._looked = (id(image), moved)
        if moved:
            return ARRIVAL
        return IDLE if now - self._searched_at >= self._full_search_every else QUIET

    def observe(self) -> list[FaceObservation]:
        """Decide each track's identity from its sightings and describe the faces on screen. A track
        missed in this frame keeps its name for when it is seen again, but is not reported meanwhile:
        the person may have left."""
        tracks = self._tracker.tracks
        decided = keep_unique(tracks, {track.id: self._voting.decide(track) for track in tracks})
        faces = []
        for track in tracks:
            track.identity = decided[track.id]
            best = track.best
            if track.identity is not None:
                track.visitor = None
            elif best is not None and all(s.match is None for s in track.sightings) and (
                    track.visitor is None or best.at == track.embedded_at):
                track.visitor = self._visitors.visitor_for(best.embedding, best.quality)
            # A face only ever seen in profile is reported from its second sighting on: the profile
            # cascade alone mistakes more background for faces than the two frontal ones together.
            if track.misses == 0 and (track.sightings or track.hits >= 2):
                faces.append(_observation(track))
        return faces

    def apply_changes(self, created: Sequence[Identity], changed: Iterable[str]) -> None:
        """The store changed: re-match what the tracks have seen against the people created and the
        identities renamed, rejected or deleted, so no track goes on naming someone deleted."""
        changed = set(changed)
        matcher = self._analyzer.matcher
        newcomers = gallery_of(list(created)) if created else None
        for track in self._tracker.tracks:
            sightings = []
            for sighting in track.sightings:
                match = sighting.match
                if match is not None and match.identity_hash in changed:
                    match = matcher.recheck(match.identity_hash, sighting.embedding)
                elif match is None and newcomers is not None:
                    match = matcher.assign(newcomers, sighting.embedding[np.newaxis, :])[0]
                sightings.append(replace(sighting, match=match))
            track.sightings = deque(sightings, maxlen=track.sightings.maxlen)
            if track.identity is not None and track.identity.identity_hash in changed:
                track.identity = None  # decided afresh from the re-matched sightings

    def _decided(self, track: Track) -> bool:
        """Named with its latest view agreeing, or clearly a stranger: several good views, none naming anyone."""
        if not track.sightings:
            return False
        latest = track.sightings[-1].match
        if track.identity is not None:
            return latest is not None and latest.identity_hash == track.identity.identity_hash
        return (all(s.match is None for s in track.sightings)
                and sum(s.quality for s in track.sightings) >= self._voting.drop_after)

    def _due(self, track: Track, image: np.ndarray, now: float) -> bool:
        if not self._decided(track):
            return True  # new, uncertain, or contradicted: look at once
        if now - track.embedded_at >= self._recheck_after:
            return True
        # A face that no longer looks like the one last embedded (someone else stepped in, or a cut in
        # a video) is looked at again now, not at the next recheck: a stale name is the worse error.
        return track.signature is None or float(signature(image, track.box) @ track.signature) < SAME_LOOK


# Longest wait for an embedding made meanwhile: past the model process's own bounds (each call is
# timed out there, and a crashed process restarted), so only a stuck thread would reach it.
EMBED_WAIT = 300.0


def boxes_of(detections: Sequence[Detection]) -> list:
    return [detection.box for detection in detections]


def _observation(track: Track) -> FaceObservation:
    best, identity = track.best, track.identity
    return FaceObservation(
        box=track.box,
        embedding=best.embedding if best is not None else None,
        identity_hash=identity.identity_hash if identity else None,
        name=identity.name if identity else None,
        similarity=identity.similarity if identity else None,
        track=track.id,
        visitor=track.visitor,
        profile=track.profile,
        quality=best.quality if best is not None else None,
    )
