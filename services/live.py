"""The camera now: who is in view, how recognition and the privacy search keep up, and the model's health."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from camera.frames import FrameBuffer
from recognition.faces import FaceObservation, largest
from recognition.live.privacy import PrivacyFilter
from recognition.live.worker import RecognitionResult, RecognitionWorker
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.identity import Identity


@dataclass(frozen=True)
class CameraNow:
    """The latest recognition result and whether it is recent enough to describe the camera now; faces
    are its faces when it is, none when it is stale or absent."""

    result: Optional[RecognitionResult]
    fresh: bool

    @property
    def faces(self) -> tuple[FaceObservation, ...]:
        return tuple(self.result.faces) if self.result is not None and self.fresh else ()

    @property
    def best(self) -> Optional[FaceObservation]:
        """The largest known face in view, the one /hash names."""
        return largest(self.faces, known=True)


@dataclass(frozen=True)
class LiveView:
    """What the camera shows and how live recognition fares. frames and worker are None when serving the
    API only (--source none); privacy is None without --blur.

    stale_after: a recognition result older than this (seconds) is no longer "now": a shorter value
    stops naming someone who just left sooner, but reports nobody on a machine too slow to analyse a
    frame within it."""

    analyzer: FaceAnalyzer
    frames: Optional[FrameBuffer] = None
    worker: Optional[RecognitionWorker] = None
    privacy: Optional[PrivacyFilter] = None
    stale_after: float = 2.0
    clock: Callable[[], float] = time.time

    def now(self) -> CameraNow:
        result = self.worker.latest if self.worker is not None else None
        return CameraNow(result, result is not None and self.clock() - result.captured_at <= self.stale_after)

    def faces_now(self) -> tuple[FaceObservation, ...]:
        return self.now().faces

    def refresh(self, created: Iterable[Identity] = (), changed: Iterable[str] = ()) -> None:
        """Show a change to the store (identities created; hashes renamed, rejected or deleted) in what
        the camera sees now, without waiting for the next analysed frame."""
        if self.worker is not None:
            self.worker.refresh(created=list(created), changed=list(changed))

    def recognition_status(self) -> dict:
        """Frames analysed a second (it drops when the machine is short; the stream does not), and the
        faces followed now."""
        if self.worker is None:
            return {"analysed_per_second": 0.0, "faces_followed": 0}
        latest = self.worker.latest
        return {"analysed_per_second": round(self.worker.rate(), 2),
                "faces_followed": len(latest.faces) if latest is not None else 0}

    def privacy_status(self) -> Optional[dict]:
        """With --blur: the privacy search's detector, its searches a second, the faces it hides, and the
        frames hidden whole because it could not vouch for them."""
        if self.privacy is None or not self.privacy.active or self.privacy.shield is None:
            return None
        shield = self.privacy.shield
        latest = shield.latest
        return {"blur": self.privacy.mode, "detector": shield.detector, "running": shield.running,
                "searches_per_second": round(shield.rate(), 2),
                "last_search_frame": latest.frame_seq if latest is not None else None,
                "faces_hidden": len(latest.faces) if latest is not None else 0,
                "whole_frames": self.privacy.whole_frames}

    def model_status(self) -> dict:
        return self.analyzer.embedder.status.to_json()

    def camera_status(self) -> dict:
        if self.frames is None:
            return {"state": "none", "detail": "no camera source (API only)", "source": None, "since": None}
        return self.frames.status.to_json()

    def status(self, now: CameraNow) -> dict:
        """Everything /hash reports about the camera, the model and the privacy search."""
        return {"camera": self.camera_status(), "model": self.analyzer.model_name, "embedder": self.model_status(),
                "detector": self.analyzer.detector.name, "recognition": self.recognition_status(),
                "privacy": self.privacy_status(), "threshold": self.analyzer.matcher.threshold,
                "fresh": now.fresh}
