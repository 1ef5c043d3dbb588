"""The embedding model in the server's process and in its own child process."""
import os
import signal

import numpy as np
import pytest

from recognition.models.embedder import DeepFaceEmbedder, normalize
from recognition.models.embedder_process import EmbedderProcess
from tests.conftest import load_photo


@pytest.fixture(scope="module")
def chips(detector, aligner, embedder):
    image = load_photo("group/obama_and_biden.jpg")
    return aligner.chips(image, detector.detect(image), embedder.input_size)


def test_child_process_gives_the_same_embeddings_as_in_process(chips, embedder, weights_dir):
    in_process = DeepFaceEmbedder("Dlib", weights_dir).load().embed(chips)
    assert in_process.shape == (2, 128)
    assert np.allclose(embedder.embed(chips), in_process, atol=1e-5)


def test_batch_rows_are_unit_and_distinct_people_differ(chips, embedder):
    vectors = embedder.embed(chips)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.91
    assert embedder.embed([]).shape == (0, 128)


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
