"""What both benchmarks start from: a scratch folder, the Dlib weights in place, a store, an analyzer."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def scratch_parts(prefix: str):
    """(folder, store, analyzer): a new temporary folder, with the model loaded in its own process."""
    from recognition.pipeline.build import build_analyzer
    from recognition.store.file_store import FaceStore
    from recognition.models.weights import provision_dlib_weights

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["DEEPFACE_HOME"] = str(work)
    weights = work / ".deepface" / "weights"
    provision_dlib_weights(weights)
    store = FaceStore(work / "db", work / "keys" / "store.key")
    return work, store, build_analyzer(store, "Dlib", weights)
