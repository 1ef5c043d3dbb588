"""The embedding model in the server's process and in its own child process."""
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest

from recognition.models.embedder import DeepFaceEmbedder, normalize
from recognition.models.embedder_process import EmbedderProcess, EmbedderUnavailable
from tests.conftest import ROOT, load_photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chips(detector, aligner, model_process):
    image = load_photo("group/obama_and_biden.jpg")
    return aligner.chips(image, detector.detect(image), model_process.input_size)


def test_child_process_gives_the_same_embeddings_as_in_process(chips, model_process, weights_dir):
    in_process = DeepFaceEmbedder("Dlib", weights_dir).load().embed(chips)
    assert in_process.shape == (2, 128)
    assert np.allclose(model_process.embed(chips), in_process, atol=1e-5)


def test_batch_rows_are_unit_and_distinct_people_differ(chips, model_process):
    vectors = model_process.embed(chips)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.91
    assert model_process.embed([]).shape == (0, 128)


def test_a_killed_child_is_started_again(chips, weights_dir):
    process = EmbedderProcess("Dlib", weights_dir).load()
    try:
        first = process.embed(chips[:1])
        os.kill(process._process.pid, signal.SIGKILL)
        process._process.join(5)
        assert np.allclose(process.embed(chips[:1]), first, atol=1e-5)
    finally:
        process.stop()


def test_a_child_that_cannot_load_says_why(tmp_path):
    process = EmbedderProcess("NoSuchModel", tmp_path)
    with pytest.raises(RuntimeError, match="NoSuchModel"):
        process.load()
    assert process._process is None


def test_normalize_keeps_zero_rows_finite():
    out = normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_facenet_path_loads_deepface_facenet_and_names_a_broken_weights_file(tmp_path, weights_dir):
    """The Facenet code path is real: DeepFace builds Facenet and reads the weights file we point it
    at. Real weights are not available offline, so a corrupt file stands in and must be named."""
    from recognition.models.weights import WeightsMissing

    broken = weights_dir / "facenet_weights.h5"
    broken.write_bytes(b"not an HDF5 file")
    try:
        with pytest.raises(WeightsMissing, match="could not be loaded.*or run with --model Dlib") as error:
            DeepFaceEmbedder("Facenet", weights_dir).load()
        assert str(broken) in str(error.value)
    finally:
        broken.unlink()


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CrashesTheChild:
    """A payload the model process dies on as it receives it: a model that crashes on every call."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_child_that_keeps_dying_is_restarted_with_backoff_and_says_so(chips, weights_dir):
    clock = ManualClock()
    process = EmbedderProcess("Dlib", weights_dir, initial_backoff=2.0, clock=clock).load()
    try:
        assert process.status.state == "ready" and process.status.restarts == 0
        for _ in range(2):  # dies on the call; the first time it is restarted at once, then not
            with pytest.raises(EmbedderUnavailable, match="failed"):
                process.embed([CrashesTheChild()])
        assert process.status.state == "restarting" and "exited" in process.status.detail
        restarts = process.status.restarts
        for _ in range(5):  # every frame meanwhile fails fast, and starts nothing
            with pytest.raises(EmbedderUnavailable, match="next start in 2.0s"):
                process.embed(chips[:1])
        assert process.status.restarts == restarts and process._process is None
        clock.now += 2.5  # the backoff has passed
        assert process.embed(chips[:1]).shape == (1, 128)
        assert process.status.state == "ready" and process.status.restarts == restarts + 1
    finally:
        process.stop()


def test_stop_does_not_wait_for_a_hung_call_and_nothing_starts_after_it(chips, weights_dir):
    process = EmbedderProcess("Dlib", weights_dir).load()
    child = process._process
    os.kill(child.pid, signal.SIGSTOP)  # the model hangs mid-call (a wedged driver, a swapped-out machine)
    outcome = {}

    def call():
        try:
            outcome["result"] = process.embed(chips[:1])
        except EmbedderUnavailable as exc:
            outcome["error"] = str(exc)

    caller = threading.Thread(target=call)
    caller.start()
    caller.join(0.5)
    assert caller.is_alive()  # the call is in flight, holding the model
    stopper = threading.Thread(target=process.stop, kwargs={"timeout": 1.0})
    stopper.start()
    stopper.join(30)
    caller.join(30)
    assert not stopper.is_alive() and not caller.is_alive()
    assert not child.is_alive() and "error" in outcome
    with pytest.raises(EmbedderUnavailable, match="shutting down"):  # a late request starts no new model
        process.embed(chips[:1])
    assert process._process is None and process.status.state == "stopped"


def test_the_server_process_never_imports_deepface_or_tensorflow(weights_dir):
    """The model process exists to keep them out: building every part of the server leaves them out."""
    script = textwrap.dedent(f"""
        import sys
        from recognition.pipeline.build import build_for_request
        from recognition.store import open_store
        store = open_store(sys.argv[1] + "/db", sys.argv[1] + "/store.key")
        analyzer, choice = build_for_request("auto", store, {str(weights_dir)!r}, allow_download=False)
        analyzer.analyze(__import__("numpy").zeros((240, 320, 3), dtype="uint8"))
        print(choice.name, analyzer.matcher.threshold, "deepface" in sys.modules, "tensorflow" in sys.modules)
        analyzer.embedder.stop()
    """)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, "-c", script, folder], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["Dlib", "0.93", "False", "False"]


def test_a_child_that_stops_reading_is_given_up_after_the_timeout(chips, weights_dir):
    """Sending a batch larger than the pipe holds blocks while the child does not read; the timeout
    bounds that wait too, not only the wait for the answer."""
    process = EmbedderProcess("Dlib", weights_dir, timeout=3.0).load()
    try:
        os.kill(process._process.pid, signal.SIGSTOP)
        outcome = {}

        def call():
            try:
                process.embed([chip + i for i in range(8) for chip in chips])  # ~1 MB, more than a pipe buffers
            except EmbedderUnavailable as exc:
                outcome["error"] = str(exc)

        caller = threading.Thread(target=call)
        caller.start()
        caller.join(60)
        assert not caller.is_alive() and "error" in outcome
        assert "did not answer" not in outcome["error"]  # given up while sending, not while awaiting the answer
        assert process.status.state == "restarting"
    finally:
        process.stop()
