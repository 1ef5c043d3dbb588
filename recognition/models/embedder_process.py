"""Running the embedding model in a child process, so it never holds the server's GIL.

DeepFace's Dlib model keeps Python's global interpreter lock for its whole forward pass (about
75 ms a face here). In the server process that freezes the stream and every request for as long;
in a child process it runs on the other core while the server goes on serving frames. The server
process never imports DeepFace (nor TensorFlow): the child also reports the model's threshold.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import numpy as np

from recognition.models.child import Child
from recognition.models.weights import WeightsMissing

if TYPE_CHECKING:
    from recognition.models.attributes import AttributeChips, Attributes

log = logging.getLogger(__name__)


class EmbedderUnavailable(RuntimeError):
    """The model process is restarting after a crash, busy past its timeout, or stopped: try again later."""


@dataclass(frozen=True)
class EmbedderStatus:
    state: str  # "starting", "ready", "restarting" or "stopped"
    detail: str
    restarts: int
    since: float  # unix time of the last change

    def to_json(self) -> dict:
        return {"state": self.state, "detail": self.detail, "restarts": self.restarts, "since": self.since}


def _serve(connection, model_name: str, weights_dir: str) -> None:
    """The child: load the embedding model once, then answer requests (chips to embed, and those of the
    models loaded at their first use: attributes, MTCNN's faces) until told to stop."""
    from recognition.live.priority import lower_this_process
    from recognition.models.embedder import DeepFaceEmbedder, deepface_threshold

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    lower_this_process()  # the stream and the requests first; the model takes what is left
    # DeepFace finds its weights under $DEEPFACE_HOME/.deepface/weights.
    os.environ["DEEPFACE_HOME"] = str(Path(weights_dir).parent.parent)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    embedder = DeepFaceEmbedder(model_name, Path(weights_dir))
    try:
        embedder.load()
    except Exception as exc:  # report why instead of dying silently
        connection.send(("error", type(exc).__name__, str(exc)))
        return
    connection.send(("ready", embedder.input_size, embedder.dimensions, deepface_threshold(model_name)))
    extras: dict = {}  # the models loaded at their first request (or why they could not be)
    while True:
        try:
            request = connection.recv()
        except EOFError:  # the parent is gone
            return
        if request is None:
            return
        try:
            connection.send(("ok", _answer(request, embedder, extras)))
        except Exception as exc:
            connection.send(("error", type(exc).__name__, str(exc)))


def _answer(request, embedder, extras: dict):
    """One request: a list of chips to embed, or a tuple naming another model and its input."""
    if not isinstance(request, tuple):
        return embedder.embed(request)
    if request[0] == "attributes":
        return _extra(extras, "attributes").estimate(request[1])
    if request[0] == "faces":
        _, images, min_face, min_confidence = request
        return _extra(extras, "mtcnn").find(images, min_face, min_confidence)
    if request[0] == "faces_weights":
        return str(_extra(extras, "mtcnn").weights)
    raise ValueError(f"unknown request {request[0]!r}")


def _extra(extras: dict, name: str):
    """The model called name, loaded at its first request; a load that failed is not tried again on every
    call (a missing package stays missing until the process restarts) but raised again."""
    if name not in extras:
        try:
            extras[name] = _load_attributes() if name == "attributes" else _load_mtcnn()
        except Exception as exc:
            extras[name] = exc
    if isinstance(extras[name], Exception):
        raise extras[name]
    return extras[name]


def _load_attributes():
    from recognition.models.attributes import AttributeModels

    return AttributeModels()


def _load_mtcnn():
    from recognition.models.mtcnn_model import MtcnnModel

    return MtcnnModel()


class EmbedderProcess:
    """The server's Embedder (recognition.models.embedder): a DeepFaceEmbedder in a child process started
    by load().

    A child that dies is started again, at once the first time and then after a backoff that doubles
    from initial_backoff up to max_backoff (a model that crashes on every call is not restarted on
    every frame); calls meanwhile fail fast with EmbedderUnavailable, and status says why. timeout
    bounds every wait: for the child's answer and for another call in flight.
    """

    def __init__(self, model_name: str, weights_dir: Path, *, timeout: float = 120.0, load_timeout: float = 300.0,
                 initial_backoff: float = 0.5, max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model_name = model_name
        self._weights_dir = Path(weights_dir)
        self._timeout = timeout
        self._load_timeout = load_timeout  # TensorFlow and the weights take seconds to load, more on a busy machine
        self._initial_backoff, self._max_backoff = initial_backoff, max_backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._child: Optional[Child] = None  # while the model process runs
        self._closed = False
        self._backoff = 0.0  # the first restart after a success is immediate
        self._next_start = 0.0
        self.input_size: Optional[int] = None
        self.dimensions: Optional[int] = None
        self.reported_threshold: Optional[float] = None  # DeepFace's cosine threshold, read in the child
        self._status = EmbedderStatus("starting", "the model has not been loaded yet", 0, time.time())
        self.answered = 0  # requests the model process answered, and the seconds they took (for /metrics)
        self.answer_seconds = 0.0

    @property
    def status(self) -> EmbedderStatus:
        return self._status

    @property
    def _process(self) -> Optional[BaseProcess]:
        """The running model process, if any (tests signal it)."""
        return None if self._child is None else self._child.process

    def load(self) -> "EmbedderProcess":
        """Start the child and load the model now (WeightsMissing or RuntimeError says why it cannot)."""
        with self._lock:
            if self._child is None or not self._child.process.is_alive():
                self._start()
        return self

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return self._ask(list(chips), "embedding")

    def attributes(self, chips: Sequence["AttributeChips"]) -> list["Attributes"]:
        """Age, gender and emotion (recognition.models.attributes) of each face's AttributeChips."""
        return self._ask(("attributes", list(chips)), "estimating attributes") if chips else []

    def find_faces(self, image: np.ndarray, min_face: int, min_confidence: float = 0.9) -> list[tuple]:
        """MTCNN's faces in a BGR image (recognition.models.mtcnn_model.MtcnnModel.find): (x, y, w, h,
        confidence, five [x, y] keypoints) in the image's pixels. MTCNN is loaded at the first call."""
        return self.find_faces_batch([image], min_face, min_confidence)[0]

    def find_faces_batch(self, images: list[np.ndarray], min_face: int,
                         min_confidence: float = 0.9) -> list[list[tuple]]:
        """find_faces for several images in one request (one batch when they are the same size)."""
        if not images:
            return []
        return self._ask(("faces", [np.ascontiguousarray(image) for image in images], int(min_face),
                          float(min_confidence)), "finding faces with MTCNN")

    def mtcnn_weights(self) -> str:
        """The folder the model process loaded MTCNN's weights from (loading it if it has not yet)."""
        return self._ask(("faces_weights",), "loading MTCNN")

    def _ask(self, request, what: str):
        if not self._lock.acquire(timeout=self._timeout):
            raise EmbedderUnavailable(f"the model process is busy (no answer within {self._timeout:.0f}s)")
        try:
            child = self._ensure_running()
            asked = time.monotonic()
            try:
                with self._deadline(child):  # a child that stops reading must not hold the model for ever
                    child.connection.send(request)
                reply = self._receive(child)
            except (OSError, EOFError, RuntimeError) as exc:
                self._crashed(str(exc))
                raise EmbedderUnavailable(f"the model process failed: {exc}") from None
            self._backoff = 0.0
            self.answered += 1
            self.answer_seconds += time.monotonic() - asked
            if self._status.state != "ready":
                self._set_status("ready", f"{self.model_name} in process {child.process.pid}")
        finally:
            self._lock.release()
        if reply[0] != "ok":
            raise RuntimeError(f"{what} failed: {reply[1]}: {reply[2]}")
        return reply[1]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child for good: later calls fail fast instead of starting a new one. A call in flight
        is not waited for beyond timeout; its child is terminated."""
        self._closed = True
        got_lock = self._lock.acquire(timeout=timeout)
        try:
            child = self._child
            if child is None:
                return
            process = child.process
            if got_lock:
                try:
                    child.connection.send(None)
                except OSError:
                    pass
                process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(timeout)
            if process.is_alive():  # a stopped (SIGSTOP) or wedged child ignores SIGTERM
                process.kill()
                process.join(timeout)
            if got_lock:
                child.connection.close()
                self._child = None
            self._set_status("stopped", "the server is shutting down")
        finally:
            if got_lock:
                self._lock.release()

    def _ensure_running(self) -> Child:
        if self._closed:
            raise EmbedderUnavailable("the server is shutting down")
        if self._child is not None and self._child.process.is_alive():
            return self._child
        if self._child is not None:
            self._crashed(f"the model process exited (code {self._child.process.exitcode})")
        wait = self._next_start - self._clock()
        if wait > 0:
            raise EmbedderUnavailable(f"{self._status.detail}; next start in {wait:.1f}s")
        try:
            child = self._start()
        except (WeightsMissing, RuntimeError, OSError) as exc:
            self._crashed(f"restarting the model process failed: {exc}")
            raise EmbedderUnavailable(str(exc)) from None
        self._set_status("ready", f"{self.model_name} in process {child.process.pid} (restarted)",
                         restarts=self._status.restarts + 1)
        return child

    def _crashed(self, reason: str) -> None:
        """Forget a dead (or hung) child and schedule the next start with backoff."""
        child = self._child
        if child is not None:
            if child.process.is_alive():
                child.process.kill()  # a hung child may be stopped: SIGTERM would wait for ever
            child.process.join(5)
            child.connection.close()
            self._child = None
        if self._closed:
            self._set_status("stopped", "the server is shutting down")
            return
        self._next_start = self._clock() + self._backoff
        log.warning("%s; next start in %.1fs", reason, self._backoff)
        self._set_status("restarting", reason)
        self._backoff = min(max(self._initial_backoff, 2 * self._backoff), self._max_backoff)

    def _set_status(self, state: str, detail: str, restarts: Optional[int] = None) -> None:
        self._status = EmbedderStatus(state, detail, self._status.restarts if restarts is None else restarts,
                                      time.time())

    def _start(self) -> Child:
        child = Child.spawn(_serve, (self.model_name, str(self._weights_dir)), name="embedder")
        process = child.process
        self._child = child  # stop() may end it while the model loads
        try:
            reply = self._receive(child, self._load_timeout)
        except RuntimeError:
            self._child = None
            raise
        if reply[0] != "ready":
            process.join(5)
            child.connection.close()
            self._child = None
            message = f"{reply[1]}: {reply[2]}"
            raise WeightsMissing(reply[2]) if reply[1] == "WeightsMissing" else RuntimeError(message)
        _, self.input_size, self.dimensions, self.reported_threshold = reply
        self._set_status("ready", f"{self.model_name} in process {process.pid}")
        log.info("embedding model %s runs in process %d", self.model_name, process.pid)
        return child

    @contextmanager
    def _deadline(self, child: Child) -> Iterator[None]:
        """Kill the child if what follows outlasts the timeout; the pipe then fails and the call with it."""
        timer = threading.Timer(self._timeout, child.process.kill)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _receive(self, child: Child, timeout: Optional[float] = None):
        timeout = self._timeout if timeout is None else timeout
        if not child.connection.poll(timeout):
            child.process.kill()
            child.process.join(5)
            raise RuntimeError(f"the embedding process did not answer within {timeout:.0f}s")
        try:
            with self._deadline(child):  # the answer may stop halfway
                return child.connection.recv()
        except EOFError:
            raise RuntimeError(f"the embedding process exited (code {child.process.exitcode})") from None
