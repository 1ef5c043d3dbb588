"""What the benchmarks start from: the fixtures, a scratch folder, the Dlib weights in place, a store, an analyzer."""
from __future__ import annotations

import os
import tempfile
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
