"""Running the embedding model in a child process, so it never holds the server's GIL.

DeepFace's Dlib model keeps Python's global interpreter lock for its whole forward pass (about
75 ms a face here). In the server process that freezes the stream and every request for as long;
in a child process it runs on the other core while the server goes on serving frames.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from recognition.models.embedder import DeepFaceEmbedder
from recognition.models.weights import WeightsMissing

log = logging.getLogger(__name__)


def _serve(connection, model_name: str, weights_dir: str) -> None:
    """The child: load the model once, then answer batches of chips until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # DeepFace finds its weights under $DEEPFACE_HOME/.deepface/weights.
    os.environ["DEEPFACE_HOME"] = str(Path(weights_dir).parent.parent)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    embedder = DeepFaceEmbedder(model_name, Path(weights_dir))
    try:
        embedder.load()
    except Exception as exc:  # report why instead of dying silently
        connection.send(("error", type(exc).__name__, str(exc)))
        return
    connection.send(("ready", embedder.input_size, embedder.dimensions))
    while True:
        try:
            chips = connection.recv()
        except EOFError:  # the parent is gone
            return
        if chips is None:
            return
        try:
            connection.send(("ok", embedder.embed(chips)))
        except Exception as exc:
            connection.send(("error", type(exc).__name__, str(exc)))


class EmbedderProcess:
    """Same interface as DeepFaceEmbedder; the model lives in a child process started by load().

    A child that dies is started again on the next call, so one crash costs one frame, not the
    server. timeout bounds every wait for the child.
    """

    def __init__(self, model_name: str, weights_dir: Path, *, timeout: float = 120.0) -> None:
        self.model_name = model_name
        self._weights_dir = Path(weights_dir)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._connection = None
        self.input_size: Optional[int] = None
        self.dimensions: Optional[int] = None

    def load(self) -> "EmbedderProcess":
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
        return self

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            self._connection.send(list(chips))
            reply = self._receive()
        if reply[0] != "ok":
            raise RuntimeError(f"embedding failed: {reply[1]}: {reply[2]}")
        return reply[1]

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._process is None:
                return
            try:
                self._connection.send(None)
            except OSError:
                pass
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout)
            self._connection.close()
            self._process = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # fork would copy the server's threads and locks
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, self.model_name, str(self._weights_dir)), name="embedder", daemon=True
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent
        reply = self._receive()
        if reply[0] != "ready":
            self._process.join(5)
            self._process = None
            message = f"{reply[1]}: {reply[2]}"
            raise WeightsMissing(reply[2]) if reply[1] == "WeightsMissing" else RuntimeError(message)
        _, self.input_size, self.dimensions = reply
        log.info("embedding model %s runs in process %d", self.model_name, process.pid)

    def _receive(self):
        if not self._connection.poll(self._timeout):
            self._process.terminate()
            self._process.join(5)  # so the next call sees it dead and starts a fresh one
            raise RuntimeError(f"the embedding process did not answer within {self._timeout:.0f}s")
        try:
            return self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the embedding process exited (code {self._process.exitcode})") from None
