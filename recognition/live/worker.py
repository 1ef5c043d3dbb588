"""The thread that recognizes faces in the newest camera frame, beside the stream, never pacing it."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from camera.frames import FrameFeed
from recognition.faces import FaceObservation
from recognition.live.attributes import TrackAttributes
from recognition.live.budget import QUIET, RecognitionBudget
from recognition.live.priority import yield_to_the_stream
from recognition.live.recognizer import LiveRecognizer
from recognition.models.embedder_process import EmbedderUnavailable
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.gallery import gallery_of
from recognition.store.identity import Identity
from recognition.store.interface import Match

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecognitionResult:
    """What was seen in one analysed frame. Immutable: readers share it without locks."""

    frame_seq: int
    source_index: Optional[int]
    captured_at: float
    analysed_at: float
    faces: tuple[FaceObservation, ...]
    number: int = 0  # running count of analysed frames: consecutive results differ by one


class RecognitionWorker:
    """Takes the newest frame, analyses it, publishes the result; frames that arrive meanwhile are
    dropped, so a slow model lowers the recognition rate, never the stream's frame rate."""

    def __init__(self, feed: FrameFeed, analyzer: FaceAnalyzer, *, poll_timeout: float = 0.5,
                 recognizer: Optional[LiveRecognizer] = None, settled_rate: float = 5.0,
                 attributes: Optional[TrackAttributes] = None, budget: Optional[RecognitionBudget] = None,
                 name: str = "camera", on_result: Optional[Callable[[RecognitionResult], None]] = None) -> None:
        """budget: the cores this camera's recognition shares with the other cameras' (None: its own
        thread, unshared); name: the camera's, in the thread's name and the log; on_result: called in
        this thread with each result (the camera's events), so it must be quick and never wait."""
        self._settled_gap = 1.0 / settled_rate  # frames analysed per second while the scene is settled
        self._feed = feed
        self._analyzer = analyzer
        self._recognizer = recognizer or LiveRecognizer(analyzer)  # its tracks are this thread's alone
        self._changes: queue.SimpleQueue = queue.SimpleQueue()  # store changes, for the thread to apply
        self._poll_timeout = poll_timeout
        self._attributes = attributes  # age, gender, emotion per track (--attributes)
        self._budget = budget
        self._on_result = on_result
        self.name = name
        self._latest: Optional[RecognitionResult] = None
        self._swap = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recognition-{name}", daemon=True)
        self.analysed = 0
        self._analysed_at: deque = deque(maxlen=256)  # monotonic times of the latest analyses, for rate()

    @property
    def latest(self) -> Optional[RecognitionResult]:
        return self._latest

    def start(self) -> "RecognitionWorker":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def close(self) -> None:
        """After stop: let go of what the recognizer holds (its embedding thread), once this thread has
        ended (one that outlived stop's wait still uses it; it ends with the process)."""
        if not self._thread.is_alive():
            self._recognizer.close()

    def refresh(self, created: Sequence[Identity] = (), changed: Iterable[str] = ()) -> None:
        """Bring the latest faces up to date with a change to the store at once, so that readers do not
        see a just-enrolled person as unknown (or a renamed one by the old name) until the next frame
        is analysed. Only what the change touched is looked at, never the whole store again: faces
        matched to a changed identity are checked against it anew (renamed, "not this person",
        deleted), and unknown faces against the people just created. The worker's tracks learn of the
        change through a message, before it publishes its next result."""
        with self._swap:
            self._changes.put((list(created), list(changed)))
            result = self._latest
            if result is None or not result.faces:
                return
            matcher = self._analyzer.matcher
            faces = list(result.faces)
            changed = set(changed)
            for index, face in enumerate(faces):
                if face.identity_hash in changed:
                    # A face is named by its embedding, so a known one has one; without, it cannot be
                    # vouched for again and is shown unknown (a delete must never fail here).
                    embedding = face.embedding
                    recheck = matcher.recheck(face.identity_hash, embedding) if embedding is not None else None
                    faces[index] = _matched(face, recheck)
            unknown = [(index, face.embedding) for index, face in enumerate(faces)
                       if not face.known and face.embedding is not None]
            if created and unknown:
                matches = matcher.assign(gallery_of(list(created)), np.stack([embedding for _, embedding in unknown]))
                for (index, _), match in zip(unknown, matches):
                    if match is not None:
                        faces[index] = _matched(faces[index], match)
            self._latest = replace(result, analysed_at=time.time(), faces=tuple(faces))

    def _run(self) -> None:
        yield_to_the_stream()
        seq = 0
        asked: Optional[float] = None  # when this camera first asked for the turn it waits for
        while not self._stop.is_set():
            previously_asked, asked = asked, None  # seniority lasts across back-to-back timed-out asks only
            if self._recognizer.settled:  # everyone on camera is decided and nothing else moves: rest a little
                self._stop.wait(self._settled_gap)
            frame = self._feed.wait_newer(seq, self._poll_timeout)
            if frame is None:
                continue
            seq = frame.seq
            try:
                budget = self._budget
                urgency = self._recognizer.urgency_of(frame.image, frame.captured_at) if budget is not None else QUIET
                if budget is None or urgency == QUIET:  # no budget to share, or nothing but the motion check
                    faces = self._analyse(frame)
                else:
                    asked = previously_asked or time.monotonic()
                    with budget.turn(urgency, camera=self.name, since=asked, timeout=self._poll_timeout * 2) as granted:
                        if not granted:  # other cameras' turns: a newer frame is taken next time
                            continue
                        asked = None
                        # The newest frame by now: the wait for a turn may have been long.
                        frame = self._feed.wait_newer(seq - 1, 0) or frame
                        seq = frame.seq
                        faces = self._analyse(frame)
                if self._attributes is not None:  # after publishing: shown from the next result on
                    self._estimate_attributes(self._attributes, frame, faces)
            except EmbedderUnavailable as exc:  # restarting with backoff: its status says so, in /hash too
                log.debug("frame %d not analysed: %s", frame.seq, exc)
                continue
            except Exception:  # one bad frame must not stop recognition for good
                log.exception("recognition failed on frame %d", frame.seq)
                continue
            self.analysed += 1
            self._analysed_at.append(time.monotonic())
            if self._on_result is not None and self._latest is not None:
                try:
                    self._on_result(self._latest)
                except Exception:  # events are told; recognition goes on whatever a listener does
                    log.exception("the result of frame %d was not passed on", frame.seq)

    def _analyse(self, frame):
        self._recognizer.advance(frame.image, frame.captured_at)
        # Changes and publishing happen under one lock with refresh(), so an enrollment made while this
        # frame was being embedded is never overwritten by a stale "unknown".
        with self._swap:
            self._apply_changes()
            faces = self._recognizer.observe()
            if self._attributes is not None:
                faces = self._attributes.attach(faces)
            self._latest = RecognitionResult(
                frame.seq, frame.source_index, frame.captured_at, time.time(), tuple(faces), self.analysed + 1
            )
        return faces

    def rate(self, window: float = 5.0) -> float:
        """Frames analysed a second over the last window seconds: what recognition manages now."""
        now = time.monotonic()
        return sum(1 for at in list(self._analysed_at) if now - at <= window) / window

    def _estimate_attributes(self, attributes: TrackAttributes, frame, faces) -> None:
        try:
            attributes.update(frame.image, faces, frame.captured_at)
        except Exception as exc:  # attributes are extra: recognition goes on without them
            log.warning("age, gender and emotion not estimated on frame %d: %s", frame.seq, exc)

    def _apply_changes(self) -> None:
        created, changed = [], []
        while True:
            try:
                more_created, more_changed = self._changes.get_nowait()
            except queue.Empty:
                break
            created += more_created
            changed += more_changed
        if created or changed:
            self._recognizer.apply_changes(created, changed)


def _matched(face: FaceObservation, match: Optional[Match]) -> FaceObservation:
    return replace(face, identity_hash=match.identity_hash if match else None, name=match.name if match else None,
                   similarity=match.similarity if match else None)
