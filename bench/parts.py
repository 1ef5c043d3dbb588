"""What the benchmarks start from: the fixtures, a scratch folder, the Dlib weights in place, a store, an analyzer."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from config import fixtures_dir

FIXTURES = fixtures_dir()


def scratch_parts(prefix: str):
    """(folder, store, analyzer): a new temporary folder, with the model loaded in its own process."""
    from recognition.pipeline.build import build_analyzer
    from recognition.store import open_store
    from recognition.models.weights import provision_dlib_weights

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["DEEPFACE_HOME"] = str(work)
    weights = work / ".deepface" / "weights"
    provision_dlib_weights(weights)
    store = open_store(work / "db", work / "keys" / "store.key")
    return work, store, build_analyzer(store, "Dlib", weights)
