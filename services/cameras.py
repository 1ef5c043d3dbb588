"""The cameras a server watches, by name: each with its own capture, recognition worker, privacy search,
stream and status; added and removed at run time without touching the others."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from camera.frames import FrameBuffer
from camera.specs import MAX_CAMERAS, CameraSpec
from recognition.live.budget import RecognitionBudget
from recognition.live.privacy import PrivacyFilter
from recognition.live.worker import RecognitionWorker
from recognition.store.identity import Identity
from services.live import LiveView
from services.stream_feed import JpegFeed

log = logging.getLogger(__name__)


class NoSuchCamera(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"there is no camera named {name!r}")


class CameraExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a camera named {name!r} is already watched")


class CannotAddCamera(RuntimeError):
    """Too many cameras, or a server that was not built to add any (the message says which)."""


@dataclass
class Camera:
    """One camera's parts. threads start in their order and stop in the reverse."""

    spec: CameraSpec
    view: LiveView
    feed: JpegFeed
    threads: tuple = ()  # each with start() and stop(timeout)
    on_stop: Callable[[], None] = lambda: None  # what it gives back when it goes (its turn of the sweep)
    on_remove: Callable[[], None] = lambda: None  # after stop, when removed at run time (its people leave)
    started: bool = field(default=False, init=False)
    removed: threading.Event = field(default_factory=threading.Event, init=False)  # its streams end

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def frames(self) -> Optional[FrameBuffer]:
        return self.view.frames

    @property
    def worker(self) -> Optional[RecognitionWorker]:
        return self.view.worker

    @property
    def privacy(self) -> Optional[PrivacyFilter]:
        return self.view.privacy

    def start(self) -> "Camera":
        for thread in self.threads:
            thread.start()
        self.started = True
        return self

    def stop(self, timeout: float = 3.0) -> None:
        if self.started:
            for thread in reversed(self.threads):
                thread.stop(timeout=timeout)
        if self.worker is not None:
            self.worker.close()
        self.on_stop()

    def describe(self) -> dict:
        """What /cameras says of it: its source (without credentials), how it fares, who is in view."""
        view = self.view
        now = view.now()
        return {"name": self.name, "camera": view.camera_status(), "recognition": view.recognition_status(),
                "privacy": view.privacy_status(), "fresh": now.fresh,
                "people": [{"hash": face.identity_hash, "name": face.name} for face in now.faces if face.known],
                "faces": len(now.faces),
                "settings": {"blur": view.privacy.mode if view.privacy is not None else "none",
                             "stream_width": self.feed.width, "overlay": self.feed.overlay}}


class Cameras:
    """Every camera, in the order they were given (the first answers /streaming and /hash). build makes
    a camera's parts from its spec (None: cameras cannot be added at run time)."""

    def __init__(self, cameras: Iterable[Camera] = (), build: Optional[Callable[[CameraSpec], Camera]] = None,
                 budget: Optional[RecognitionBudget] = None) -> None:
        self._cameras: dict[str, Camera] = {}
        for camera in cameras:
            if camera.name in self._cameras:
                raise CameraExists(camera.name)
            self._cameras[camera.name] = camera
        self._build = build
        self.budget = budget  # the cores their recognition shares (None: each camera's worker runs unshared)
        self._lock = threading.Lock()  # adds and removes, one at a time
        self._adding: set[str] = set()  # names reserved by adds under way
        self._running = False
        self._stopped = False  # stop() was called: no camera is added any more

    def __len__(self) -> int:
        return len(self._cameras)

    def __iter__(self):
        return iter(list(self._cameras.values()))

    @property
    def names(self) -> list[str]:
        return list(self._cameras)

    @property
    def first(self) -> Optional[Camera]:
        return next(iter(self._cameras.values()), None)

    def get(self, name: str) -> Camera:
        camera = self._cameras.get(name)
        if camera is None:
            raise NoSuchCamera(name)
        return camera

    def start(self) -> "Cameras":
        with self._lock:
            self._running = True
            for camera in self._cameras.values():
                camera.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        with self._lock:
            self._running, self._stopped = False, True
            for camera in reversed(list(self._cameras.values())):
                camera.stop(timeout)

    def add(self, spec: CameraSpec) -> Camera:
        """Build, start (when the others run) and list a camera; the others are not touched."""
        with self._lock:  # the name is reserved here; building happens outside, holding up no one
            if spec.name in self._cameras or spec.name in self._adding:
                raise CameraExists(spec.name)
            if len(self._cameras) + len(self._adding) >= MAX_CAMERAS:
                raise CannotAddCamera(f"this server watches {MAX_CAMERAS} cameras at most")
            if self._build is None:
                raise CannotAddCamera("this server was not started to add cameras")
            if self._stopped:
                raise CannotAddCamera("the server is stopping")
            self._adding.add(spec.name)
        try:
            try:
                camera = self._build(spec)
            except (RuntimeError, ValueError, OSError) as exc:  # a detector that cannot load, say
                raise CannotAddCamera(f"camera {spec.name!r} cannot be built: {exc}") from exc
            with self._lock:
                if self._stopped:  # the server began stopping while this camera was built
                    camera.stop()
                    raise CannotAddCamera("the server is stopping")
                if self._running:
                    camera.start()
                self._cameras = {**self._cameras, spec.name: camera}  # readers hold the old dict, unchanged
        finally:
            with self._lock:
                self._adding.discard(spec.name)
        log.info("camera %s added: %s", spec.name, camera.view.camera_status()["source"])
        return camera

    def remove(self, name: str, timeout: float = 3.0) -> None:
        """Stop a camera and forget it; the others go on."""
        with self._lock:
            camera = self._cameras.get(name)
            if camera is None:
                raise NoSuchCamera(name)
            self._cameras = {other: kept for other, kept in self._cameras.items() if other != name}
        camera.removed.set()
        camera.stop(timeout)
        camera.on_remove()
        log.info("camera %s removed", name)

    def budget_status(self) -> Optional[dict]:
        return self.budget.status() if self.budget is not None else None

    def refresh(self, created: Iterable[Identity] = (), changed: Iterable[str] = ()) -> None:
        """Show a change to the store on every camera at once (see LiveView.refresh)."""
        created, changed = list(created), list(changed)
        for camera in self:
            camera.view.refresh(created=created, changed=changed)
