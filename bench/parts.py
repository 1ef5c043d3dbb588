"""What the benchmarks start from: the fixtures, a scratch folder, the Dlib weights in place, a store, an analyzer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from config import fixtures_dir

FIXTURES = fixtures_dir()


def provision_weights(work: Path) -> Path:
    """The Dlib weights under work/.deepface/weights (work is then DEEPFACE_HOME); returns that folder."""
    from recognition.models.weights import provision_dlib_weights

    weights = work / ".deepface" / "weights"
    provision_dlib_weights(weights)
    return weights


def scratch_parts(prefix: str):
    """(folder, store, analyzer): a new temporary folder, with the model loaded in its own process."""
    from recognition.pipeline.build import build_analyzer
    from recognition.store import open_store

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["DEEPFACE_HOME"] = str(work)
    weights = provision_weights(work)
    store = open_store(work / "db", work / "keys" / "store.key")
    return work, store, build_analyzer(store, "Dlib", weights)


def free_port() -> int:
    """A TCP port nobody listens on now, for a server the benchmark starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """run.py of a checkout in a child process, as an operator runs it: the Dlib model, offline, a clip
    as its camera; started (waiting until /hash answers) and stopped with Ctrl-C."""

    def __init__(self, *, root: Path, clip: Path, data_dir: Path, key_file: Path, weights: Path, log: Path,
                 start_timeout: float) -> None:
        import requests

        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = dict(os.environ, FACE_SOURCE=str(clip), FACE_PORT=str(self.port), FACE_DATA_DIR=str(data_dir),
                        FACE_KEY_FILE=str(key_file), FACE_MODEL="Dlib", FACE_OFFLINE="1",
                        DEEPFACE_HOME=str(weights.parent.parent), TF_CPP_MIN_LOG_LEVEL="3")
        self.session = requests.Session()
        self.process = None
        self.started_in = 0.0
        self._start_timeout = start_timeout

    def start(self) -> None:
        import requests

        started = time.monotonic()
        with open(self.log, "a") as log:
            self.process = subprocess.Popen([sys.executable, str(self.root / "run.py")], cwd=self.root, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < self._start_timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if self.session.get(self.url + "/hash", timeout=2).ok:
                    self.started_in = time.monotonic() - started
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {self._start_timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
