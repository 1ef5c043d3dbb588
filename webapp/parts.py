"""What run.py builds and hands to the app, whole and frozen: the parts, the use cases made of them, and
the web layer's settings. Views reach them through webapp.current.parts()."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from camera.frames import FrameBuffer
from camera.specs import FIRST_CAMERA, CameraSpec
from recognition.live.privacy import PrivacyFilter
from recognition.live.worker import RecognitionWorker
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.pipeline.video import VideoLimits
from recognition.store.interface import FaceStore
from services.accounts import Accounts
from services.albums import Albums
from services.anonymize import Anonymizer
from services.attributes import FaceAttributes
from services.cameras import Camera, Cameras
from services.classifier import Classifier
from services.events import EventBus
from services.live import LiveView
from services.people import People
from services.photos import Photos
from services.stream_feed import JpegFeed
from webapp.http.face_gate import FaceGate
from webapp.http.keyring import Keyring
from webapp.http.throttle import ModelThrottle

if TYPE_CHECKING:
    from recognition.album.library import AlbumLibrary


@dataclass(frozen=True)
class Parts:
    """Built once (run.py, or a test) and never changed: a different setting is a new Parts
    (dataclasses.replace), which builds its use cases again from the same parts.

    cameras: the cameras watched (run.py builds them); without, frames, worker and privacy are one
    camera's parts (tests build them so), and without those either the server serves the API only.
    albums is None without --album. Parts.build gives gate and throttle their defaults."""

    store: FaceStore
    analyzer: FaceAnalyzer
    gate: FaceGate  # the sign-in pages' challenges and rate limits
    throttle: ModelThrottle  # the model routes' rate limits
    cameras: Cameras = field(default_factory=Cameras)
    frames: Optional[FrameBuffer] = None
    worker: Optional[RecognitionWorker] = None
    privacy: Optional[PrivacyFilter] = None  # which faces the stream blurs (--blur)
    albums: Optional["AlbumLibrary"] = None  # the photo folders searched by face (--album)
    # A recognition result older than this is no longer "now": /hash reports no faces from it.
    stale_after: float = 2.0
    max_viewers: int = 8
    api_key: Optional[str] = None  # when set, every route but webapp.http.auth.OPEN needs it in X-API-Key
    # The stored keys with scopes (tools.keys); None: the store's own (Keyring.for_store), read as they change.
    keyring: Optional[Keyring] = None
    public_signup: bool = False  # POST /signup open without the key (--public-signup)
    overlay: str = "boxes"  # how the stream marks faces (--overlay)
    hide_with: str = "pixels"  # what hides a face the privacy setting hides (--hide-with)
    filters: str = "known"  # whom a viewer's filter is drawn on (--filters)
    stream_width: Optional[int] = None  # the stream's JPEG width; None: the camera's
    video_limits: VideoLimits = field(default_factory=VideoLimits)
    attributes: bool = False  # --attributes: age, gender and emotion with every face
    session_hours: float = 12.0  # how long a sign-in on the pages lasts
    stopping: threading.Event = field(default_factory=threading.Event)  # set when the server shuts down
    events: EventBus = field(default_factory=EventBus)  # the cameras' events, for GET /events and the sinks

    # Derived in __post_init__ from the fields above.
    signing_secret: bytes = field(init=False, repr=False)
    no_camera: Camera = field(init=False, repr=False)  # what /streaming and /hash answer with no camera
    people: People = field(init=False)
    accounts: Accounts = field(init=False)
    photos: Photos = field(init=False)
    classifier: Classifier = field(init=False)
    photo_albums: Albums = field(init=False)
    anonymizer: Anonymizer = field(init=False)

    def __post_init__(self) -> None:
        from recognition.matching.trained import ClassifierFile

        derived: dict[str, object] = {"signing_secret": signing_secret(self.store)}
        if self.keyring is None and self.store is not None:
            derived["keyring"] = Keyring.for_store(self.store)
        data_dir = self.store.data_dir if self.store is not None else None
        classifier_file = ClassifierFile(data_dir, self.store.key) if data_dir is not None else None
        no_camera = self._camera(CameraSpec(FIRST_CAMERA, "none"), None, None, None)
        cameras = self.cameras
        if self.frames is not None:  # the one-camera shorthand: made again on each replace(), settings and all
            cameras = Cameras([self._camera(CameraSpec(FIRST_CAMERA, self.frames.status.source), self.frames,
                                            self.worker, self.privacy)])
        attributes = FaceAttributes(self.analyzer, self.attributes)
        people = People(self.store, self.analyzer, cameras, self.albums, classifier_file)
        derived.update(cameras=cameras, no_camera=no_camera, people=people, accounts=Accounts(people, attributes),
                       photos=Photos(self.analyzer, attributes, self.video_limits),
                       classifier=Classifier(self.store, self.analyzer, attributes, classifier_file),
                       photo_albums=Albums(self.albums, self.analyzer, self.store),
                       anonymizer=Anonymizer(self.analyzer))
        for name, value in derived.items():  # frozen: set once, here
            object.__setattr__(self, name, value)

    def _camera(self, spec: CameraSpec, frames, worker, privacy) -> Camera:
        view = LiveView(self.analyzer, frames, worker, privacy, self.stale_after)
        return Camera(spec, view, JpegFeed(view, self.stopping, overlay=self.overlay, width=self.stream_width,
                                           hide_with=self.hide_with, filters=self.filters))

    def camera(self, name: Optional[str] = None) -> Camera:
        """The camera of that name (NoSuchCamera if none); without a name the first, which /streaming and
        /hash answer for, or with no camera at all a stand-in whose stream and status say so."""
        if name is not None:
            return self.cameras.get(name)
        return self.cameras.first or self.no_camera

    @property
    def live(self) -> LiveView:
        """The first camera's view (see camera())."""
        return self.camera().view

    @classmethod
    def build(cls, store: FaceStore, analyzer: FaceAnalyzer, *, gate: Optional[FaceGate] = None,
              throttle: Optional[ModelThrottle] = None, **options) -> "Parts":
        """Parts with the default sign-in gate (its challenges signed with the store's key, its spent
        tags kept in the store) and the default model rate limits, unless given."""
        return cls(store=store, analyzer=analyzer, gate=gate or FaceGate(signing_secret(store), ledger=store),
                   throttle=throttle or ModelThrottle(), **options)


def signing_secret(store: Optional[FaceStore]) -> bytes:
    """The key that signs session cookies and liveness challenges, derived from the store key: a file
    outside the data dir (or, for PostgreSQL, the key every server of the installation holds), never
    from anything inside the data dir, so a copy of it cannot forge a session. Servers that share a
    store (and so its key) accept each other's sessions and challenges. Rotating the key ends every
    session and challenge. A server without a store (a stream only) signs with a random key of its own."""
    if store is None:
        return secrets.token_bytes(32)
    key = store.key
    # The installation secret, mixed in, keeps installations that were given the same key file apart.
    return hmac.new(key.secret, b"faceapp signing key\0" + (store.secret or b""), hashlib.sha256).digest()

