"""Shared fixtures: the real face photos, the real Dlib model (loaded once), stores, apps, servers."""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from config import fixtures_dir

ROOT = Path(__file__).resolve().parent.parent
FIXTURES_SETTING = "FACE_FIXTURES"
FIXTURES = fixtures_dir()
# In CI a missing fixtures folder fails the run: tests that need real faces must not pass by skipping.
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"
MODEL = "Dlib"
EMBEDDINGS_CACHE = ROOT / ".cache" / "embeddings"
RECORDED = pytest.StashKey()  # the session's RecordedEmbedder, for the summary and the fast tier's check
WARM = pytest.StashKey()
PROBLEMS = pytest.StashKey()  # whether the embedding cache held answers when the session began

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fixture_path(relative: str) -> Path:
    path = FIXTURES / relative
    if not path.exists():
        message = f"face fixtures not found at {path}; set {FIXTURES_SETTING} to the shared fixtures folder"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def pytest_sessionstart(session) -> None:
    from tests.support.recorded_embedder import versions_key

    session.config.stash[WARM] = (EMBEDDINGS_CACHE / versions_key(MODEL) / "vectors.bin").is_file()
    if IN_CI and not FIXTURES.is_dir():
        pytest.exit(f"CI=true and the face fixtures are missing at {FIXTURES}: the tests that need real faces "
                    f"would all be skipped. Put ../shared/fixtures beside the clone or set {FIXTURES_SETTING}.",
                    returncode=1)


# Tests that use these fixtures get these markers whatever their file says: the real model process or a
# server that loads it (weights_dir), a live camera thread, an album indexed first, a PostgreSQL server of their own.
MARKED_BY_FIXTURE = {"model_process": "slow", "weights_dir": "slow", "camera_services": "slow", "cameras_rig": "slow",
                     "album_parts": "slow", "postgres": "postgres", "mosquitto": "mqtt"}


# Whole files that take seconds a test even with recorded embeddings (measured with --durations on this
# 2-core machine): they run in make test, not in the fast tier, which must stay under a minute.
SLOW_FILES = {
    "test_liveness.py": "poses of every frame of the liveness footage",
    "test_signin_api.py": "bursts of camera frames through the liveness judge",
    "test_signin_replay.py": "bursts of camera frames through the liveness judge",
    "test_detector.py": "every detector backend over the fixture photos and the crowd",
    "test_hog.py": "dlib's HOG over the crowd",
    "test_fuzz.py": "schemathesis over real HTTP",
    "test_album_api.py": "an album indexed first", "test_album_files.py": "an album indexed first",
    "test_album_photos.py": "an album indexed first", "test_album_people_api.py": "an album indexed first",
    "test_album_indexer.py": "an album indexed first", "test_album_videos.py": "an HD video made and indexed first",
    "test_live.py": "clips played through live recognition", "test_strangers.py": "clips through live recognition",
    "test_sweep.py": "the CNN sweep's child process", "test_privacy.py": "clips through the privacy search",
    "test_privacy_search.py": "the privacy search over the crowd",
    "test_approximate.py": "k-means over large galleries",
    "test_capture.py": "files played as cameras, at their own frame rate",
}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
        if item.path.name in SLOW_FILES:
            item.add_marker("slow")


def fast_tier(config) -> bool:
    """Whether this run leaves out the slow tests (make test-fast): it must then never import TensorFlow."""
    return "not slow" in (config.option.markexpr or "")


def pytest_sessionfinish(session, exitstatus) -> None:
    """The fast tier's promise, checked: no TensorFlow in this process, and a warm cache starts no model."""
    if not fast_tier(session.config):
        return
    problems = []
    if "tensorflow" in sys.modules:
        problems.append("the fast tier imported TensorFlow in the test process")
    recorded = session.config.stash.get(RECORDED, None)
    whole = session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if recorded is not None and recorded.started_model and session.config.stash[WARM] and whole:
        problems.append(f"the embedding cache was warm, yet {recorded.misses} chip(s) were not in it and the "
                        "model process was started (they are recorded now; a test whose chips change on "
                        "every run belongs in the slow tier)")
    session.config.stash[PROBLEMS] = problems
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config) -> None:
    recorded = config.stash.get(RECORDED, None)
    if recorded is not None:
        terminalreporter.write_line(
            f"embeddings: {recorded.hits} chip(s) answered from the cache in {recorded.cache_folder}, "
            f"{recorded.misses} computed by the model process now (started: {'yes' if recorded.started_model else 'no'})")
    for problem in config.stash.get(PROBLEMS, []):
        terminalreporter.write_line(f"FAST TIER: {problem}", red=True)


def load_photo(relative: str) -> np.ndarray:
    """A photo under the fixtures' faces/ folder as a BGR array."""
    from recognition.images import decode_image

    return decode_image(fixture_path("faces/" + relative).read_bytes())


def provision_weights(tmp_path_factory) -> Path:
    """A DeepFace home of the test run's own, so tests never depend on (or write to) the user's; made at
    the first call."""
    from recognition.models.weights import provision_dlib_weights

    home = tmp_path_factory.getbasetemp() / "deepface-home"
    weights = home / ".deepface" / "weights"
    if not weights.is_dir():
        provision_dlib_weights(weights)
    os.environ["DEEPFACE_HOME"] = str(home)
    return weights


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    return provision_weights(tmp_path_factory)


@pytest.fixture(scope="session")
def detector():
    from recognition.models.detectors.haar import HaarDetector

    return HaarDetector()


@pytest.fixture(scope="session")
def aligner():
    from recognition.models.aligner import LandmarkAligner
    from recognition.models.weights import landmark_model_path

    return LandmarkAligner(landmark_model_path())


@pytest.fixture(scope="session")
def embedder(request, tmp_path_factory):
    """The real model's embeddings of each chip, recorded in .cache/embeddings/ (tests/support/
    recorded_embedder.py): the model process, as the server runs it, starts at the first chip not yet
    recorded; a warm cache never starts it (nor TensorFlow)."""
    from recognition.models.embedder_process import EmbedderProcess
    from tests.support.recorded_embedder import RecordedEmbedder

    recorded = RecordedEmbedder.in_folder(EMBEDDINGS_CACHE, MODEL,
                                          lambda: EmbedderProcess(MODEL, provision_weights(tmp_path_factory)).load())
    request.config.stash[RECORDED] = recorded
    yield recorded
    recorded.stop()


@pytest.fixture(scope="session")
def model_process(embedder):
    """The model process itself, for what only it can do or show (restarts, attributes, MTCNN)."""
    return embedder.model()


@pytest.fixture(scope="session")
def pose_model():
    """dlib's 68-point landmarks, which the liveness challenge reads head movements from."""
    from recognition.liveness.pose import HeadPoseModel
    from recognition.models.weights import pose_model_path

    return HeadPoseModel(pose_model_path())


def open_store(folder: Path, **options):
    """A store in folder/db with its key in folder/keys: outside the data dir, as in real use."""
    from recognition.store.pickle_store import PickleStore

    return PickleStore(folder / "db", folder / "keys" / "store.key", **options)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server of the test run's own (Debian's, installed by `make postgres`)."""
    from tests.support.postgres_server import PostgresMissing, PostgresServer

    try:
        server = PostgresServer().start()
    except PostgresMissing as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.remove()


@pytest.fixture
def mosquitto():
    """A real Mosquitto broker of the test's own (Debian's, installed by `make mosquitto`)."""
    from tests.support.mosquitto_server import MosquittoMissing, MosquittoServer

    try:
        server = MosquittoServer().start()
    except MosquittoMissing as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.remove()


def stored_bytes(store) -> bytes:
    """Every byte the store keeps on disk (its segment files), to compare before and after."""
    return b"".join(path.read_bytes() for path in sorted(store.folder.iterdir()))


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def analyzer(detector, aligner, embedder, store):
    from recognition.matching.matcher import Matcher
    from recognition.pipeline.analyzer import FaceAnalyzer

    return FaceAnalyzer(detector, aligner, embedder, Matcher(store, MODEL))


@pytest.fixture
def services(analyzer, store):
    from webapp.parts import Parts

    svc = Parts.build(store=store, analyzer=analyzer)
    yield svc
    svc.stopping.set()


@pytest.fixture
def client(services):
    from webapp import create_app

    return create_app(services).test_client()


def write_clip(path: Path, photos: list[str], *, seconds_each: float, fps: float = 20.0, size=(640, 480)) -> Path:
    """A short video made of fixture photos: a camera that shows these people."""
    from tests.support.clips import write_clip as write_images

    return write_images(path, [load_photo(p) for p in photos], seconds_each=seconds_each, fps=fps, size=size)


def LiveServer(app, port: int = 0, **options):
    """The app served by waitress on 127.0.0.1 in a background thread, as run.py serves it."""
    from tests.support.server_thread import ServerThread

    return ServerThread(app, port=port, **options)


@pytest.fixture
def live_server():
    servers = []

    def start(app, **kwargs) -> LiveServer:
        server = LiveServer(app, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Poll predicate until it returns something truthy; the value, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def camera_services(analyzer, store):
    """Services with a real capture thread playing a video file and a real recognition worker; with blur
    (unknown or all), the privacy search beside the stream too, as run.py builds it."""
    from camera.capture import CaptureThread
    from camera.frames import FrameBuffer
    from camera.sources import parse_source
    from recognition.live.avatar import face_shape
    from recognition.live.privacy import PrivacyFilter
    from recognition.live.shield import FaceShield
    from recognition.live.worker import RecognitionWorker
    from recognition.models.detectors import make_detector
    from webapp.parts import Parts

    running = []

    def start(source: str, *, blur: str = "none", blur_detector: str = "blazeface", hide_with: str = "pixels",
              **capture_options) -> Parts:
        spec = parse_source(source)
        frames = FrameBuffer(spec.label)
        capture = CaptureThread(spec, frames, **capture_options).start()
        worker = RecognitionWorker(frames, analyzer).start()
        shapes = face_shape if hide_with == "avatar" else None
        shield = FaceShield(frames, make_detector(blur_detector), shapes=shapes).start() if blur != "none" else None
        svc = Parts.build(store=store, analyzer=analyzer, frames=frames, worker=worker, hide_with=hide_with,
                          privacy=PrivacyFilter(blur, shield) if shield else None)
        running.append((svc, capture, worker, shield))
        return svc

    yield start
    for svc, capture, worker, shield in running:
        svc.stopping.set()
        worker.stop(timeout=5)
        if shield is not None:
            shield.stop(timeout=5)
        capture.stop(timeout=5)


@pytest.fixture
def cameras_rig(analyzer, store):
    """Parts watching several cameras (name -> video file) from one server, as run.py builds them."""
    from tests.support.camera_rig import camera_rig, stop_rig

    running = []

    def start(cameras: dict, **options):
        parts = camera_rig(store, analyzer, cameras, **options)
        running.append(parts)
        return parts

    yield start
    for parts in running:
        stop_rig(parts)


def client_at(address: str):
    """A requests session whose connections come from address, another loopback address than
    127.0.0.1 (all of 127.0.0.0/8 is this machine's): to the server, another client."""
    import requests
    from requests.adapters import HTTPAdapter

    class FromAddress(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (address, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", FromAddress())
    return session
