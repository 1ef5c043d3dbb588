"""Start the face-recognition server: parse settings, build the parts, serve, stop cleanly."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from recognition.store.vault import default_key_path

log = logging.getLogger("run")

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Config:
    source: str
    host: str
    port: int
    data_dir: Path
    key_file: Path
    model: str
    deepface_home: Path
    threshold: Optional[float]
    max_viewers: int
    max_upload: int
    log_level: str
    provision_only: bool = False
    offline: bool = False
    api_key: Optional[str] = None
    insecure: bool = False

    @property
    def weights_dir(self) -> Path:
        return self.deepface_home / ".deepface" / "weights"


def parse_config(argv: Optional[list[str]] = None, env: Optional[dict] = None) -> Config:
    """Command-line options, each defaulting to an environment variable, then to a built-in value."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description="Live face recognition with an MJPEG stream and a /hash API.")
    parser.add_argument("--source", default=env.get("FACE_SOURCE", "0"),
                        help="webcam index, video file, stream URL, or 'none' for API only [FACE_SOURCE, default 0]")
    parser.add_argument("--host", default=env.get("FACE_HOST", "127.0.0.1"), help="[FACE_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, default=int(env.get("FACE_PORT", "8080")), help="[FACE_PORT, default 8080]")
    parser.add_argument("--data-dir", default=default_data_dir(env),
                        help="where identities are stored [FACE_DATA_DIR, default known_faces_db/]")
    parser.add_argument("--key-file", default=env.get("FACE_KEY_FILE"),
                        help="the key that encrypts the store, kept outside the data dir; created (mode 0600) on "
                             "first run [FACE_KEY_FILE, default ~/.config/faceapp/keys/<data dir>-<id>.key]")
    parser.add_argument("--model", default=env.get("FACE_MODEL", "auto"),
                        help="embedding model: auto (Facenet if its weights are available, else Dlib), "
                             "Facenet, Dlib, or another DeepFace model [FACE_MODEL, default auto]")
    parser.add_argument("--threshold", type=float, default=_optional_float(env.get("FACE_THRESHOLD")),
                        help="cosine similarity needed to call two faces the same person; higher means fewer "
                             "false accepts and more false rejects [FACE_THRESHOLD, default per model]")
    parser.add_argument("--max-viewers", type=int, default=int(env.get("FACE_MAX_VIEWERS", "8")),
                        help="stream viewers served at once [FACE_MAX_VIEWERS, default 8]")
    parser.add_argument("--max-upload-mb", type=float, default=float(env.get("FACE_MAX_UPLOAD_MB", "16")),
                        help="largest upload accepted, in MB; bigger ones get 413 [FACE_MAX_UPLOAD_MB, default 16]")
    parser.add_argument("--offline", action="store_true", default=env.get("FACE_OFFLINE", "") not in ("", "0"),
                        help="never try to download model weights [FACE_OFFLINE=1]")
    parser.add_argument("--api-key", default=env.get("FACE_API_KEY") or None,
                        help="when set, every change (enroll, register, rename, delete, not) needs it in the "
                             "X-API-Key header [FACE_API_KEY]")
    parser.add_argument("--insecure", action="store_true", default=env.get("FACE_INSECURE", "") not in ("", "0"),
                        help="allow serving on a non-loopback address without an API key [FACE_INSECURE=1]")
    parser.add_argument("--log-level", default=env.get("FACE_LOG_LEVEL", "INFO"))
    parser.add_argument("--provision-only", action="store_true",
                        help="put the shipped weights in place, report the model that would be used, and exit")
    args = parser.parse_args(argv)
    deepface_home = Path(env.get("DEEPFACE_HOME") or Path.home()).expanduser()
    data_dir = Path(args.data_dir).expanduser()
    return Config(
        source=args.source,
        host=args.host,
        port=args.port,
        data_dir=data_dir,
        key_file=key_file_for(data_dir, args.key_file, env),
        model=args.model,
        deepface_home=deepface_home,
        threshold=args.threshold,
        max_viewers=args.max_viewers,
        max_upload=int(args.max_upload_mb * 1024 * 1024),
        log_level=args.log_level.upper(),
        provision_only=args.provision_only,
        offline=args.offline,
        api_key=args.api_key,
        insecure=args.insecure,
    )


def default_data_dir(env) -> str:
    return env.get("FACE_DATA_DIR", str(HERE / "known_faces_db"))


def key_file_for(data_dir: Path, given: Optional[str], env) -> Path:
    """The key file given, else one per data dir under $XDG_CONFIG_HOME (~/.config)/faceapp/keys."""
    if given:
        return Path(given).expanduser()
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()
    return default_key_path(data_dir, config_home)


def _optional_float(text: Optional[str]) -> Optional[float]:
    return float(text) if text else None


def main(argv: Optional[list[str]] = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not config.api_key and not config.insecure and not is_loopback(config.host):
        log.error("refusing to serve on %s without an API key: anyone on the network could enroll or delete "
                  "people. Set --api-key (FACE_API_KEY), or pass --insecure if you mean it.", config.host)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # DeepFace reads its weights folder from this variable; set it so DeepFace and we agree.
    os.environ["DEEPFACE_HOME"] = str(config.deepface_home)

    import cv2

    from camera.capture import CaptureThread
    from camera.frames import FrameBuffer
    from camera.sources import parse_source
    from recognition.pipeline.build import build_for_request
    from recognition.store.atomic import DataDirInUse
    from recognition.store.file_store import FaceStore, StoreKeyError, StoreRejected
    from recognition.models.weights import WeightsMissing, resolve_model
    from recognition.live.worker import RecognitionWorker
    from webapp import create_app
    from webapp.serving import make_server
    from webapp.services import Services

    # Our own log says when a camera is missing; OpenCV would repeat it as a warning on every retry.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        if config.provision_only:
            choice = resolve_model(config.model, config.weights_dir, allow_download=not config.offline)
            log.info("weights in %s; model %s: %s", config.weights_dir, choice.name, choice.reason)
            return 0
        store = FaceStore(config.data_dir, config.key_file)
    except (StoreRejected, StoreKeyError, DataDirInUse) as exc:
        log.error("%s", exc)
        log.error("the server did not start and changed nothing; `python -m tools.store verify` checks the store")
        return 2
    try:
        analyzer, choice = build_for_request(
            config.model, store, config.weights_dir, config.threshold, allow_download=not config.offline
        )
    except (WeightsMissing, RuntimeError) as exc:  # e.g. a model name DeepFace does not know
        log.error("%s", exc)
        store.close()
        return 2
    if choice.name != config.model:
        log.info("model auto -> %s (%s)", choice.name, choice.reason)
    log.info("model %s, threshold %.2f; detector Haar (%s); data in %s (%d identities)",
             choice.name, analyzer.matcher.threshold, analyzer.detector.cascade_path.name, config.data_dir, len(store))

    spec = parse_source(config.source)
    services = Services(store=store, analyzer=analyzer, max_viewers=config.max_viewers, api_key=config.api_key)
    if spec is not None:
        services.frames = FrameBuffer(spec.label)
    app = create_app(services, max_upload=config.max_upload)
    try:
        server = make_server(app, host=config.host, port=config.port, max_upload=config.max_upload,
                             max_viewers=config.max_viewers)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror or exc)
        analyzer.embedder.stop()
        store.close()
        return 2

    capture = None
    if spec is None:
        log.info("source: none (API only)")
    else:
        log.info("source: %s", spec.label)
        capture = CaptureThread(spec, services.frames).start()
        services.worker = RecognitionWorker(services.frames, analyzer).start()
    log.info("serving on http://%s:%s (Ctrl-C to stop)", _display_host(config.host), server.effective_port)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on `kill` as on Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # even where a shell started us with SIGINT ignored
    try:
        server.run()  # returns (or raises KeyboardInterrupt) on Ctrl-C / SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        services.stopping.set()
        if services.worker:
            services.worker.stop(timeout=3)
        if capture:
            capture.stop(timeout=3)
        analyzer.embedder.stop(timeout=3)
        server.close()
        store.close()
        log.info("stopped")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


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
