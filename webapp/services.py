"""The parts run.py builds and hands to the app, reached from views through services()."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from flask import current_app

from camera.frames import FrameBuffer
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.interface import FaceStore
from recognition.pipeline.video import VideoLimits
from recognition.live.privacy import PrivacyFilter
from recognition.live.worker import RecognitionResult, RecognitionWorker

if TYPE_CHECKING:
    from recognition.album.library import AlbumLibrary
    from recognition.matching.trained import ClassifierFile
    from webapp.face_gate import FaceGate
    from webapp.throttle import ModelThrottle

log = logging.getLogger(__name__)

EXTENSION = "faceapp"


@dataclass
class Services:
    store: FaceStore
    analyzer: FaceAnalyzer
    frames: Optional[FrameBuffer] = None  # None when serving the API only (--source none)
    worker: Optional[RecognitionWorker] = None
    # A recognition result older than this is no longer "now": /hash reports no faces from it.
    stale_after: float = 2.0
    max_viewers: int = 8
    api_key: Optional[str] = None  # when set, every route but webapp.auth.OPEN needs it in X-API-Key
    public_signup: bool = False  # POST /signup open without the key (--public-signup)
    privacy: Optional[PrivacyFilter] = None  # which faces the stream blurs (--blur)
    albums: Optional["AlbumLibrary"] = None  # the photo folders searched by face (--album)
    overlay: str = "boxes"  # how the stream marks faces (--overlay)
    stream_width: Optional[int] = None  # the stream's JPEG width; None: the camera's
    video_limits: VideoLimits = field(default_factory=VideoLimits)
    stopping: threading.Event = field(default_factory=threading.Event)
    attributes: bool = False  # --attributes: age, gender and emotion with every face
    gate: Optional["FaceGate"] = None  # the sign-in pages' challenges and rate limits (a default one if None)
    session_hours: float = 12.0  # how long a sign-in on the pages lasts
    throttle: Optional["ModelThrottle"] = None  # the model routes' rate limits (the defaults if None)
    _classifier: Optional["ClassifierFile"] = field(default=None, repr=False)

    def attributes_json(self, image, boxes) -> list[dict]:
        """Each face's age, gender and emotion with --attributes (estimated in the model process);
        empty dicts without."""
        if not self.attributes or not boxes:
            return [{} for _ in boxes]
        from recognition.models.attributes import attribute_chips

        try:
            found = self.analyzer.embedder.attributes(attribute_chips(self.analyzer.aligner, image, list(boxes)))
        except Exception as exc:  # attributes are extra: the answer goes out without them, and says why
            log.warning("age, gender and emotion not estimated: %s", exc)
            return [{"attributes_error": str(exc)[:200]} for _ in boxes]
        return [attributes.to_json() for attributes in found]

    def __post_init__(self) -> None:
        from recognition.matching.trained import ClassifierFile
        from webapp.face_gate import FaceGate
        from webapp.throttle import ModelThrottle

        self.signing_secret = signing_secret(self.store)
        if self.gate is None:
            self.gate = FaceGate(self.signing_secret, ledger=self.store)
        if self.throttle is None:
            self.throttle = ModelThrottle()

        if self._classifier is None and getattr(self.store, "data_dir", None) is not None:
            self._classifier = ClassifierFile(self.store.data_dir, self.store.key)  # one for every request

    def classifier(self) -> "ClassifierFile":
        """The trained classifier of the store's data dir (POST /train_model), read when first needed."""
        if self._classifier is None:
            raise RuntimeError("this store keeps no classifier")
        return self._classifier

    def current_result(self, now: float) -> tuple[Optional[RecognitionResult], bool]:
        """The latest recognition result and whether it is recent enough to describe the camera now."""
        result = self.worker.latest if self.worker else None
        return result, result is not None and now - result.captured_at <= self.stale_after

    def faces_now(self, now: float) -> tuple:
        """The faces on camera now: those of the latest result, or none when it is stale or absent."""
        result, fresh = self.current_result(now)
        return result.faces if fresh else ()

    def refresh_camera(self, created=(), changed=()) -> None:
        """Show a change to the store (identities created; hashes renamed, rejected or deleted) in what
        the camera sees now, without waiting for the next analysed frame."""
        if self.worker is not None:
            self.worker.refresh(created=created, changed=changed)

    def recognition_status(self) -> dict:
        """What live recognition manages: frames analysed a second (it drops when the machine is short;
        the stream does not), and the faces it follows now."""
        if self.worker is None:
            return {"analysed_per_second": 0.0, "faces_followed": 0}
        latest = self.worker.latest
        return {"analysed_per_second": round(self.worker.rate(), 2),
                "faces_followed": len(latest.faces) if latest is not None else 0}

    def privacy_status(self) -> Optional[dict]:
        """With --blur: the privacy search's detector, its searches a second, the faces it hides, and the
        frames hidden whole because it could not vouch for them."""
        if self.privacy is None or not self.privacy.active:
            return None
        shield = self.privacy.shield
        latest = shield.latest
        return {"blur": self.privacy.mode, "detector": shield.detector, "running": shield.running,
                "searches_per_second": round(shield.rate(), 2),
                "last_search_frame": latest.frame_seq if latest is not None else None,
                "faces_hidden": len(latest.faces) if latest is not None else 0,
                "whole_frames": self.privacy.whole_frames}

    def model_status(self) -> dict:
        status = getattr(self.analyzer.embedder, "status", None)  # an in-process embedder has none
        return status.to_json() if status else {"state": "ready", "detail": "in process", "restarts": 0}

    def camera_status(self) -> dict:
        if self.frames is None:
            return {"state": "none", "detail": "no camera source (API only)", "source": None, "since": None}
        return self.frames.status.to_json()


def signing_secret(store: Optional[FaceStore]) -> bytes:
    """The key that signs session cookies and liveness challenges, derived from the store key: a file
    outside the data dir (or, for PostgreSQL, the key every server of the installation holds), never
    from anything inside the data dir, so a copy of it cannot forge a session. Servers that share a
    store (and so its key) accept each other's sessions and challenges. Rotating the key ends every
    session and challenge. A server without a store (a stream only) signs with a random key of its own."""
    key = getattr(store, "key", None)
    if key is None:
        return secrets.token_bytes(32)
    # The installation secret, mixed in, keeps installations that were given the same key file apart.
    return hmac.new(key.secret, b"faceapp signing key\0" + (store.secret or b""), hashlib.sha256).digest()


def services() -> Services:
    return current_app.extensions[EXTENSION]
