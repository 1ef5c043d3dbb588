"""Shared fixtures: the real face photos, the real Dlib model (loaded once), stores, apps, servers."""
from __future__ import annotations

import os
import socket
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
    if IN_CI and not FIXTURES.is_dir():
        pytest.exit(f"CI=true and the face fixtures are missing at {FIXTURES}: the tests that need real faces "
                    f"would all be skipped. Put ../shared/fixtures beside the clone or set {FIXTURES_SETTING}.",
                    returncode=1)


def load_photo(relative: str) -> np.ndarray:
    """A photo under the fixtures' faces/ folder as a BGR array."""
    from recognition.images import decode_image

    return decode_image(fixture_path("faces/" + relative).read_bytes())


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A DeepFace home of the test run's own, so tests never depend on (or write to) the user's."""
    from recognition.models.weights import provision_dlib_weights

    home = tmp_path_factory.mktemp("deepface-home")
    os.environ["DEEPFACE_HOME"] = str(home)
    weights = home / ".deepface" / "weights"
    provision_dlib_weights(weights)
    return weights


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
def embedder(weights_dir):
    """The model in its own process, as the server runs it."""
    from recognition.models.embedder_process import EmbedderProcess

    process = EmbedderProcess(MODEL, weights_dir).load()
    yield process
    process.stop()


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
    from recognition.pipeline.analyzer import FaceAnalyzer
    from recognition.matching.matcher import Matcher

    return FaceAnalyzer(detector, aligner, embedder, Matcher(store, MODEL))


@pytest.fixture
def services(analyzer, store):
    from webapp.services import Services

    svc = Services(store=store, analyzer=analyzer)
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


def LiveServer(app, port: int = 0):
    """The app served by waitress on 127.0.0.1 in a background thread, as run.py serves it."""
    from tests.support.server_thread import ServerThread

    return ServerThread(app, port=port)


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
    from recognition.live.privacy import PrivacyFilter
    from recognition.live.shield import FaceShield
    from recognition.live.worker import RecognitionWorker
    from recognition.models.detectors import make_detector
    from webapp.services import Services

    running = []

    def start(source: str, *, blur: str = "none", blur_detector: str = "blazeface", **capture_options) -> Services:
        spec = parse_source(source)
        frames = FrameBuffer(spec.label)
        capture = CaptureThread(spec, frames, **capture_options).start()
        worker = RecognitionWorker(frames, analyzer).start()
        shield = FaceShield(frames, make_detector(blur_detector)).start() if blur != "none" else None
        svc = Services(store=store, analyzer=analyzer, frames=frames, worker=worker,
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
