"""How a camera's parts are made from its spec: capture, privacy search, recognition worker and stream,
around what every camera shares (one model process, one sweep process, one visitor book, one budget
of cores)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from camera.capture import CaptureThread
from camera.frames import FrameBuffer
from camera.sources import parse_source
from camera.specs import CameraSpec
from recognition.live.attributes import TrackAttributes
from recognition.live.avatar import face_shape
from recognition.live.budget import RecognitionBudget
from recognition.live.events import CameraEvents
from recognition.live.privacy import PrivacyFilter
from recognition.live.recognizer import LiveRecognizer
from recognition.live.shield import FaceShield
from recognition.live.sweeping import SharedSweep
from recognition.live.visitors import VisitorBook
from recognition.live.worker import RecognitionWorker
from recognition.models.detectors import FaceDetector
from recognition.pipeline.analyzer import FaceAnalyzer
from services.cameras import Camera
from services.events import EventBus
from services.live import LiveView
from services.stream_feed import JpegFeed


@dataclass(frozen=True)
class StreamDefaults:
    """The server's stream settings, which a camera's spec may override."""

    blur: str = "none"
    overlay: str = "boxes"
    width: Optional[int] = None
    filters: str = "known"
    hide_with: str = "pixels"


@dataclass
class CameraBuilder:
    """detector(role) makes a detector for one camera ("live" or "blur"): each camera's threads get their
    own, since a detector's network is not safe to share between threads."""

    analyzer: FaceAnalyzer
    stopping: threading.Event
    detector: Callable[[str], FaceDetector]
    budget: Optional[RecognitionBudget] = None
    visitors: Optional[VisitorBook] = None
    sweep: Optional[SharedSweep] = None
    stream: StreamDefaults = StreamDefaults()
    stall_timeout: float = 5.0
    attributes: bool = False
    stale_after: float = 2.0
    # Faces a camera embeds per turn at most when cameras share the model: a crowd's turn stays short, so
    # a door's newcomer waits for a few embeddings, not twenty (the rest are embedded in later turns).
    max_embeds: Optional[int] = 4
    events: Optional[EventBus] = None  # where each camera's events go (None: nowhere)

    def __post_init__(self) -> None:
        if self.visitors is None:  # one book for all cameras: a stranger keeps one id from camera to camera
            self.visitors = VisitorBook(self.analyzer.matcher.threshold)

    def __call__(self, spec: CameraSpec) -> Camera:
        source = parse_source(spec.source)
        if source is None:
            raise ValueError(f"camera {spec.name!r} has no source")
        frames = FrameBuffer(source.label)
        capture = CaptureThread(source, frames, stall_timeout=self.stall_timeout)
        blur = spec.blur or self.stream.blur
        avatars = self.stream.hide_with == "avatar"
        shield = (FaceShield(frames, self.detector("blur"), shapes=face_shape if avatars else None)
                  if blur != "none" else None)
        turn = self.sweep.for_camera() if self.sweep is not None else None
        recognizer = LiveRecognizer(self.analyzer, sweep=turn, detector=self.detector("live"),
                                    visitors=self.visitors, max_embeds=self.max_embeds)
        attributes = TrackAttributes(self.analyzer) if self.attributes else None
        told = CameraEvents(spec.name, self.events.publish, self.events.set_state) if self.events is not None else None
        worker = RecognitionWorker(frames, self.analyzer, recognizer=recognizer, attributes=attributes,
                                   budget=self.budget, name=spec.name,
                                   on_result=(lambda result: told.observe(result.faces, result.captured_at))
                                   if told is not None else None)
        privacy = PrivacyFilter(blur, shield) if shield is not None else None
        view = LiveView(self.analyzer, frames, worker, privacy, self.stale_after)
        feed = JpegFeed(view, self.stopping, overlay=spec.overlay or self.stream.overlay,
                        width=spec.stream_width or self.stream.width, filters=self.stream.filters,
                        hide_with=self.stream.hide_with)
        threads = tuple(thread for thread in (capture, shield, worker) if thread is not None)
        return Camera(spec, view, feed, threads, on_stop=turn.close if turn is not None else lambda: None,
                      on_remove=lambda: self._removed(spec.name, told))

    def _removed(self, name: str, told: Optional[CameraEvents]) -> None:
        """A camera removed at run time: everyone on it leaves, and its state and sensor go (a server that
        stops keeps them: its availability says it is offline)."""
        if told is not None and self.events is not None:
            told.close(time.time())
            self.events.camera_gone(name)
