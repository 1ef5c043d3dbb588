"""Settings, in one place: command-line options that default to FACE_* environment variables.

One frozen dataclass per part (server, camera, recognition, store, stream); each part is handed only
its own section. run.py, tools/ and bench/ all read settings through this module.
"""
from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from camera.specs import FIRST_CAMERA, CameraSpec, CameraSpecError, cameras_from
from services.sinks.mqtt import MqttTarget, parse_mqtt_url
from services.sinks.webhooks import check_webhook_url

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / "known_faces_db"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_upload: int = 16 * 1024 * 1024  # bytes; bigger uploads get 413
    api_key: Optional[str] = None  # when set, every route but the open list (webapp/http/auth.py) needs it in X-API-Key
    model_rate: float = 120.0  # requests a minute per client to routes that run the model (a key: 4x); 0: no limit
    model_slots: int = 0  # requests that run the model at once in the process; 0: the number of cores (at least 2)
    insecure: bool = False  # serve on a network address without an API key
    log_level: str = "INFO"
    allowed_hosts: tuple[str, ...] = ()  # names (Host header) answered besides loopback ones and --host
    trusted_proxy: Optional[str] = None  # the reverse proxy's address, whose X-Forwarded-* headers are believed


@dataclass(frozen=True)
class CameraConfig:
    source: str = "0"  # webcam index, file, URL, or "none": the one camera when --camera is not given
    stall_timeout: float = 5.0  # seconds without a frame before a "live" source counts as stalled
    cameras: tuple[CameraSpec, ...] = ()  # --camera NAME=SOURCE,...: when given, these instead of --source
    recognition_cores: int = 0  # analyses at once across the cameras; 0: one per core (the streams still come first)

    @property
    def watched(self) -> tuple[CameraSpec, ...]:
        """The cameras to watch: --camera's, else --source's as one camera, else none (API only)."""
        if self.cameras:
            return self.cameras
        return () if self.source.strip().lower() in ("", "none") else (CameraSpec(FIRST_CAMERA, self.source),)

    @property
    def cores(self) -> int:
        return self.recognition_cores or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RecognitionConfig:
    model: str = "auto"
    threshold: Optional[float] = None  # None: the model's default
    deepface_home: Path = Path.home()
    offline: bool = False
    sweep: bool = True  # a CNN looks for the faces the cascades miss, now and then, in its own process
    attributes: bool = False  # age, gender and emotion with every face (models in the model process)

    @property
    def weights_dir(self) -> Path:
        return self.deepface_home / ".deepface" / "weights"


@dataclass(frozen=True)
class DetectorConfig:
    """Which detector (recognition/models/detectors) each role uses: live recognition, the stream's
    privacy search, and photos (uploads to the API, albums). Defaults from bench/detect_bench.py."""

    live: str = "blazeface"
    blur: str = "blazeface"
    photos: str = "haar"
    min_face: int = 40  # smallest face side (px of the original) the tiled detectors look for

    ROLES = ("live", "blur", "photos")


def _detectors(text: str) -> dict:
    """`NAME` (every role) or `role=NAME,...` (live, blur, photos)."""
    from recognition.models.detectors import DETECTORS

    chosen = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        role, equals, name = (p.strip() for p in part.rpartition("="))
        roles = [role] if equals else list(DetectorConfig.ROLES)
        if any(r not in DetectorConfig.ROLES for r in roles) or name not in DETECTORS:
            raise argparse.ArgumentTypeError(
                f"{part!r}: give a detector ({', '.join(DETECTORS)}), or role=detector with a role of "
                f"{', '.join(DetectorConfig.ROLES)}")
        chosen.update({r: name for r in roles})
    return chosen


def _min_face(text: str) -> int:
    """A face side in pixels: below 16 no detector finds anything reliable, and the tiles would multiply."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    if not 16 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{value}: give a face side from 16 to 1000 pixels")
    return value


@dataclass(frozen=True)
class StoreConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    key_file: Optional[Path] = None  # None: one per data dir under the user's config folder
    backend: str = "file"  # "file" (the pickle store in data_dir) or a postgresql:// URL several servers share
    # The file store's anchor against rollback: outside the data dir, where copies of it do not go.
    anchor_file: Optional[Path] = None  # None: beside the key file (<key file>.anchor)

    @property
    def url(self) -> Optional[str]:
        return None if self.backend == "file" else self.backend

    @property
    def key_path(self) -> Path:
        return self.key_file if self.key_file is not None else default_key_path(self.data_dir)

    @property
    def anchor_path(self) -> Path:
        return self.anchor_file if self.anchor_file is not None else Path(str(self.key_path) + ".anchor")

    @property
    def options(self) -> dict:
        """What open_store needs besides the data dir, key and URL."""
        return {"anchor_path": self.anchor_path} if self.url is None else {}


@dataclass(frozen=True)
class StreamConfig:
    max_viewers: int = 8  # each viewer holds a server thread while it watches
    blur: str = "none"  # "none", "unknown" (every face not confirmed as known) or "all"
    overlay: str = "boxes"  # "boxes" or "masks" (filled, semi-transparent face shapes)
    width: Optional[int] = None  # width of the stream's JPEGs; None: the camera's own
    filters: str = "known"  # whom a viewer's filter (/streaming?filter=) is drawn on: "known", "all" or "none"
    hide_with: str = "pixels"  # what hides a face --blur hides: "pixels", or an "avatar" over them


@dataclass(frozen=True)
class AccountsConfig:
    """Signing up and in with a face on the /signup and /signin pages."""

    liveness: str = "challenge"  # "challenge": a head movement asked at random; "off": one still picture will do
    moves: tuple[str, ...] = ("left", "right", "up")  # the movements the challenge picks from
    steps: int = 2  # movements per challenge, in a random order: more, and one recording answers fewer
    session_hours: float = 12.0  # how long a sign-in lasts (the signed cookie's expiry)
    public_signup: bool = False  # POST /signup open without the API key (liveness and rate limits still apply)


@dataclass(frozen=True)
class EventsConfig:
    """Where the cameras' events go besides GET /events (services/sinks/)."""

    mqtt: Optional[MqttTarget] = None  # --mqtt: the broker, with Home Assistant's discovery
    webhooks: tuple[str, ...] = field(default=(), repr=False)  # --webhook: URLs events are POSTed to (tokens, maybe)
    webhook_secret: Optional[bytes] = field(default=None, repr=False)  # --webhook-secret: the key of their signatures


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    camera: CameraConfig
    recognition: RecognitionConfig
    store: StoreConfig
    stream: StreamConfig
    albums: tuple[Path, ...] = ()  # photo folders the server may index and search (--album)
    accounts: AccountsConfig = AccountsConfig()
    detectors: DetectorConfig = DetectorConfig()
    events: EventsConfig = EventsConfig()


def default_key_path(data_dir: Path, env: Optional[Mapping[str, str]] = None) -> Path:
    """One key per data dir under $XDG_CONFIG_HOME (~/.config)/faceapp/keys, so a copy of the data dir
    alone is unreadable."""
    env = os.environ if env is None else env
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()
    resolved = Path(data_dir).expanduser().resolve()
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return config_home / "faceapp" / "keys" / f"{resolved.name}-{tag}.key"


def _store(text: str) -> str:
    from recognition.store import FILE_STORE, is_database_url

    if text != FILE_STORE and not is_database_url(text):
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'file' nor a postgresql:// URL")
    return text


def _moves(text: str) -> tuple[str, ...]:
    moves = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [move for move in moves if move not in ("left", "right", "up")]
    if unknown or not moves:
        raise argparse.ArgumentTypeError(f"the movements are some of left, right and up, not {text!r}")
    return moves


def _steps(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 4:
        raise argparse.ArgumentTypeError(f"the movements per challenge are 1 to 4, not {text!r}")
    return int(text)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number is needed, not {text!r}")
    return value


_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")  # an ASCII (IDNA-encoded) host name
_PORT = re.compile(r"\d{1,5}")


def host_name(value: str) -> Optional[str]:
    """The name in a Host header (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower case,
    an address in its canonical form; None when it is not a well-formed Host."""
    value = value.strip().lower()
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and _PORT.fullmatch(port[1:]))):
            return None
        try:
            return str(ipaddress.IPv6Address(inside))
        except ValueError:
            return None
    name, colon, port = value.partition(":")
    if colon and not _PORT.fullmatch(port):
        return None
    return canonical_host(name)


def canonical_host(name: str) -> Optional[str]:
    """A host name in lower case without its trailing dot, an address in its canonical form (so that
    "::0:1" and "::1" are one); None when it is neither."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    return name if len(name) <= 253 and _HOST_NAME.fullmatch(name) else None


def _hosts(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    parsed = {name: canonical_host(name) or host_name(name) for name in names}  # "::1" or "[::1]:8080" alike
    hosts = {name: host for name, host in parsed.items() if host is not None}
    bad = [name for name in parsed if name not in hosts]
    if bad:
        raise argparse.ArgumentTypeError(f"not host names: {', '.join(map(repr, bad))} (give names or addresses, "
                                         "comma-separated, without a scheme)")
    return tuple(dict.fromkeys(hosts.values()))


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"the proxy's IP address is needed (as it connects to this server), "
                                         f"not {text!r}") from None
def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a number of requests a minute (0: no limit) is needed, not {text!r}")
    return value


def _slots(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) > 1024:
        raise argparse.ArgumentTypeError(f"a number of requests (0: the number of cores) is needed, not {text!r}")
    return int(text)


def _cameras(text: str) -> tuple[CameraSpec, ...]:
    """One --camera, or FACE_CAMERAS' cameras separated by ';', checked as they are parsed (argparse
    names the option in its message)."""
    try:
        return cameras_from([part for part in text.split(";") if part.strip()])
    except CameraSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _CameraList(argparse.Action):
    """--camera repeats; the cameras given on the command line replace the variable's."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        current = getattr(namespace, self.dest)
        if isinstance(current, str):  # still the variable's text, the default: replaced
            current = ()
        try:
            setattr(namespace, self.dest, cameras_from([*current, *values]))
        except CameraSpecError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


def _cores(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) > 256:
        raise argparse.ArgumentTypeError(f"a number of cores (0: every core) is needed, not {text!r}")
    return int(text)


def _one_of(*choices: str):
    """A type for a choice option. argparse checks choices only on the command line; as a type, the
    check also covers the variable's value, which reaches the parser as a string default."""
    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}, not {text!r}")
        return text

    return check


def _on_off(text: str) -> str:
    """on or off; the variable also takes 1, true, yes and 0, false, no."""
    word = text.strip().lower()
    if word in ("on", "1", "true", "yes"):
        return "on"
    if word in ("off", "0", "false", "no"):
        return "off"
    raise argparse.ArgumentTypeError(f"on or off, not {text!r}")


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "") not in ("", "0")


def add_store_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument("--data-dir", default=env.get("FACE_DATA_DIR", str(DEFAULT_DATA_DIR)),
                        help="where identities are stored [FACE_DATA_DIR, default known_faces_db/]")
    parser.add_argument("--key-file", default=env.get("FACE_KEY_FILE"),
                        help="the key that encrypts the store, kept outside the data dir; created (mode 0600) on "
                             "first run [FACE_KEY_FILE, default ~/.config/faceapp/keys/<data dir>-<id>.key]")
    parser.add_argument("--store", type=_store, default=env.get("FACE_STORE", "file"),
                        help="'file': the sealed store in the data dir; or a postgresql://user:password@host/db URL: "
                             "one store several servers share (give each the same key file) [FACE_STORE, default file]")
    parser.add_argument("--anchor-file", default=env.get("FACE_ANCHOR_FILE"),
                        help="the file store's anchor against rollback: its latest write, sealed with the key, kept "
                             "outside the data dir so a restored or planted older copy of it is refused "
                             "[FACE_ANCHOR_FILE, default <key file>.anchor]")


def tool_parser(prog: str, doc: str, env: Mapping[str, str], *, threshold: bool = False) -> argparse.ArgumentParser:
    """The arguments every operator tool that loads the model shares with run.py: the store, the model
    (and the threshold, for tools that match)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    add_store_arguments(parser, env)
    parser.add_argument("--model", default=env.get("FACE_MODEL", "auto"),
                        help="embedding model, as for run.py [FACE_MODEL, default auto]")
    if threshold:
        parser.add_argument("--threshold", type=float, default=env.get("FACE_THRESHOLD") or None,
                            help="matching threshold, as for run.py [FACE_THRESHOLD, default the model's]")
    return parser


def tool_recognition(args: argparse.Namespace, env: Mapping[str, str]) -> RecognitionConfig:
    return RecognitionConfig(model=args.model, threshold=getattr(args, "threshold", None),
                             deepface_home=Path(env.get("DEEPFACE_HOME") or Path.home()))


def store_config(args: argparse.Namespace, env: Mapping[str, str]) -> StoreConfig:
    data_dir = Path(args.data_dir).expanduser()
    key_file = Path(args.key_file).expanduser() if args.key_file else default_key_path(data_dir, env)
    anchor_file = Path(args.anchor_file).expanduser() if getattr(args, "anchor_file", None) else None
    return StoreConfig(data_dir=data_dir, key_file=key_file, backend=args.store, anchor_file=anchor_file)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Live face recognition with an MJPEG stream and a /hash API.")
    parser.add_argument("--source", default=env.get("FACE_SOURCE", "0"),
                        help="webcam index, video file, stream URL, or 'none' for API only [FACE_SOURCE, default 0]")
    parser.add_argument("--camera", action=_CameraList, type=_cameras, default=env.get("FACE_CAMERAS", ""),
                        metavar="NAME=SOURCE[,OPTION=VALUE]",
                        help="a camera to watch, by a name of its own (repeat for more; instead of --source): its "
                             "source, then where it differs from the server: blur=none|unknown|all, "
                             "stream-width=PIXELS, overlay=boxes|masks; e.g. door=rtsp://host/door,blur=unknown "
                             "[FACE_CAMERAS, cameras separated by ';']")
    parser.add_argument("--recognition-cores", type=_cores, default=env.get("FACE_RECOGNITION_CORES", "0"),
                        help="cores recognition shares across all cameras (the streams always come first); "
                             "0: one per core of the machine [FACE_RECOGNITION_CORES, default 0]")
    parser.add_argument("--stall-timeout", type=float, default=env.get("FACE_STALL_TIMEOUT", "5"),
                        help="seconds without a frame before the camera counts as stalled and is reopened "
                             "[FACE_STALL_TIMEOUT, default 5]")
    parser.add_argument("--host", default=env.get("FACE_HOST", "127.0.0.1"), help="[FACE_HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, default=env.get("FACE_PORT", "8080"), help="[FACE_PORT, default 8080]")
    add_store_arguments(parser, env)
    parser.add_argument("--model", default=env.get("FACE_MODEL", "auto"),
                        help="embedding model: auto (Facenet if its weights are available, else Dlib), "
                             "Facenet, Dlib, or another DeepFace model [FACE_MODEL, default auto]")
    parser.add_argument("--threshold", type=float, default=env.get("FACE_THRESHOLD") or None,
                        help="cosine similarity needed to call two faces the same person; higher means fewer "
                             "false accepts and more false rejects [FACE_THRESHOLD, default per model]")
    parser.add_argument("--sweep", type=_one_of("on", "off"), choices=("on", "off"),
                        default=env.get("FACE_SWEEP", "on"),
                        help="look for faces the cascades miss (turned well away, very close) with dlib's CNN "
                             "detector every few seconds while something moves; it runs in its own process "
                             "[FACE_SWEEP, default on]")
    parser.add_argument("--detector", type=_detectors, default=env.get("FACE_DETECTOR", ""),
                        help="face detector, of haar, blazeface, hog and mtcnn (in the model process), for every role "
                             "or per role: live=blazeface,blur=blazeface,photos=haar (live recognition, the stream's "
                             "blur, uploads and albums) [FACE_DETECTOR, default: those]")
    parser.add_argument("--min-face", type=_min_face, default=env.get("FACE_MIN_FACE", "40"),
                        help="smallest face, in pixels of the camera's frame or the photo, that the tiled detectors "
                             "(blazeface, hog, mtcnn) look for: smaller costs more tiles [FACE_MIN_FACE, default 40]")
    parser.add_argument("--attributes", type=_on_off, choices=("on", "off"),
                        default=env.get("FACE_ATTRIBUTES") or "off",
                        help="add age, gender and emotion, each with a confidence, to the faces the API reports "
                             "[FACE_ATTRIBUTES=1, default off]")
    parser.add_argument("--album", action="append", type=Path, default=None,
                        help="a photo folder to index and search by face; repeat for several [FACE_ALBUM, several "
                             f"separated by '{os.pathsep}']")
    parser.add_argument("--liveness", type=_one_of("challenge", "off"), choices=("challenge", "off"),
                        default=env.get("FACE_LIVENESS", "challenge"),
                        help="on the sign-up and sign-in pages, ask for a head movement picked at random, so a photo "
                             "or a phone held up to the camera does not sign in; off accepts one still picture "
                             "(the JSON /login never checks) [FACE_LIVENESS, default challenge]")
    parser.add_argument("--liveness-moves", type=_moves,
                        default=env.get("FACE_LIVENESS_MOVES", "left,right,up"),
                        help="the movements the challenge picks from, comma-separated, of left, right and up "
                             "[FACE_LIVENESS_MOVES, default left,right,up]")
    parser.add_argument("--liveness-steps", type=_steps, default=env.get("FACE_LIVENESS_STEPS", "2"),
                        help="movements per challenge (1 to 4), asked in a random order, never one twice in a row: "
                             "one recording of a person then answers fewer challenges (with left,right,up and 2: "
                             "one in six), but each adds 2.4 s to a sign-in [FACE_LIVENESS_STEPS, default 2]")
    parser.add_argument("--session-hours", type=_positive, default=env.get("FACE_SESSION_HOURS", "12"),
                        help="how long a sign-in on the pages lasts [FACE_SESSION_HOURS, default 12]")
    parser.add_argument("--max-viewers", type=int, default=env.get("FACE_MAX_VIEWERS", "8"),
                        help="stream viewers served at once [FACE_MAX_VIEWERS, default 8]")
    parser.add_argument("--blur", type=_one_of("none", "unknown", "all"), choices=("none", "unknown", "all"),
                        default=env.get("FACE_BLUR", "none"),
                        help="pixelate faces in the stream: every face not confirmed as a known person, or all "
                             "[FACE_BLUR, default none]")
    parser.add_argument("--overlay", type=_one_of("boxes", "masks"), choices=("boxes", "masks"),
                        default=env.get("FACE_OVERLAY", "boxes"),
                        help="mark faces with boxes or with filled, semi-transparent masks "
                             "[FACE_OVERLAY, default boxes]")
    parser.add_argument("--hide-with", type=_one_of("pixels", "avatar"), choices=("pixels", "avatar"),
                        default=env.get("FACE_HIDE_WITH", "pixels"),
                        help="what hides the faces --blur hides: pixels, or a synthetic avatar drawn over them "
                             "(following the face; a stranger keeps theirs while their visitor id lives) "
                             "[FACE_HIDE_WITH, default pixels]")
    parser.add_argument("--filters", type=_one_of("known", "all", "none"), choices=("known", "all", "none"),
                        default=env.get("FACE_FILTERS", "known"),
                        help="whom the fun filter a viewer picks (/streaming?filter=sunglasses or hat) is drawn on: "
                             "known people, all faces, or nobody [FACE_FILTERS, default known]")
    parser.add_argument("--stream-width", type=int,
                        default=env.get("FACE_STREAM_WIDTH") or None,
                        help="width of the stream's pictures, e.g. 1280 for a 4K camera [FACE_STREAM_WIDTH, "
                             "default the camera's]")
    parser.add_argument("--max-upload-mb", type=float, default=env.get("FACE_MAX_UPLOAD_MB", "16"),
                        help="largest upload accepted, in MB; bigger ones get 413 [FACE_MAX_UPLOAD_MB, default 16]")
    parser.add_argument("--offline", action="store_true", default=_flag(env, "FACE_OFFLINE"),
                        help="never try to download model weights [FACE_OFFLINE=1]")
    parser.add_argument("--api-key", default=env.get("FACE_API_KEY") or None,
                        help="when set, every route needs it in the X-API-Key header (reads too: the stream, "
                             "people, albums), except the pages' shells, the sign-in pages and routes, /health "
                             "and /openapi.json [FACE_API_KEY]")
    parser.add_argument("--model-rate", type=_rate, default=env.get("FACE_MODEL_RATE", "120"),
                        help="requests a minute each client (an address; IPv6 by /64) may send steadily to the "
                             "routes that run the face model, in bursts of a quarter of that; an API key gets 4 "
                             "times as many across its clients; beyond: 429 with Retry-After; 0 turns the limit "
                             "off [FACE_MODEL_RATE, default 120]")
    parser.add_argument("--model-slots", type=_slots, default=env.get("FACE_MODEL_SLOTS", "0"),
                        help="how many requests run the face model at once (each may take 64 MB beyond its "
                             "upload); as many more wait up to 10 s for their turn, the rest get 503 with "
                             "Retry-After; 0: the number of cores, at least 2 [FACE_MODEL_SLOTS, default 0]")
    parser.add_argument("--public-signup", action="store_true", default=_flag(env, "FACE_PUBLIC_SIGNUP"),
                        help="with --api-key, let anyone sign up on /signup without the key (the liveness "
                             "challenge and the rate limits still apply), so sign-up can be offered without "
                             "handing out the key that deletes people [FACE_PUBLIC_SIGNUP=1]")
    parser.add_argument("--insecure", action="store_true", default=_flag(env, "FACE_INSECURE"),
                        help="allow serving on a non-loopback address without an API key [FACE_INSECURE=1]")
    parser.add_argument("--allowed-hosts", type=_hosts, default=env.get("FACE_ALLOWED_HOSTS", ""),
                        help="names this server answers to (the Host header), comma-separated, besides localhost, "
                             "loopback addresses and --host; other names get 421, which stops DNS rebinding. On "
                             "0.0.0.0 or :: any address is taken, names only when listed [FACE_ALLOWED_HOSTS]")
    parser.add_argument("--trusted-proxy", type=_address,
                        default=env.get("FACE_TRUSTED_PROXY") or None,
                        help="the IP address of a reverse proxy in front of this server: the scheme (the session "
                             "cookie is Secure behind HTTPS) and the client's address are taken from its "
                             "X-Forwarded-Proto and -For headers (the Host it passes on is the one checked); "
                             "everyone else's are removed [FACE_TRUSTED_PROXY, default none]")
    parser.add_argument("--mqtt", type=_mqtt, default=env.get("FACE_MQTT") or None,
                        help="send events to this MQTT broker, mqtt://[user:password@]host[:port][/prefix] "
                             "(mqtts:// for TLS), and announce each camera to Home Assistant as a sensor of who is "
                             "in view; the prefix (default faceapp) heads the topics; prefer the environment for "
                             "a URL with a password [FACE_MQTT, default none]")
    parser.add_argument("--webhook", action=_WebhookList, type=_webhooks, default=env.get("FACE_WEBHOOKS", ""),
                        help="POST each event as JSON to this URL, signed with --webhook-secret; repeatable "
                             "[FACE_WEBHOOKS, URLs separated by spaces]")
    parser.add_argument("--webhook-secret", default=env.get("FACE_WEBHOOK_SECRET") or None,
                        help="the key of the webhooks' HMAC-SHA256 signatures (X-Faceapp-Signature); needed with "
                             "--webhook; prefer the environment, which other users cannot read "
                             "[FACE_WEBHOOK_SECRET]")
    parser.add_argument("--log-level", default=env.get("FACE_LOG_LEVEL", "INFO"), help="[FACE_LOG_LEVEL, default INFO]")
    return parser


def from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    return Config(
        server=ServerConfig(host=args.host, port=args.port, max_upload=int(args.max_upload_mb * 1024 * 1024),
                            api_key=args.api_key, model_rate=args.model_rate, model_slots=args.model_slots,
                            insecure=args.insecure, log_level=args.log_level.upper(), allowed_hosts=args.allowed_hosts,
                            trusted_proxy=args.trusted_proxy),
        camera=CameraConfig(source=args.source, stall_timeout=args.stall_timeout, cameras=args.camera,
                            recognition_cores=args.recognition_cores),
        recognition=RecognitionConfig(model=args.model, threshold=args.threshold, offline=args.offline,
                                      sweep=args.sweep == "on", attributes=args.attributes == "on",
                                      deepface_home=Path(env.get("DEEPFACE_HOME") or Path.home()).expanduser()),
        store=store_config(args, env),
        detectors=DetectorConfig(**args.detector, min_face=args.min_face),
        stream=StreamConfig(max_viewers=args.max_viewers, blur=args.blur, overlay=args.overlay,
                            width=args.stream_width, filters=args.filters, hide_with=args.hide_with),
        accounts=accounts_config(args),
        events=events_config(args, env),
        albums=tuple(args.album if args.album is not None else
                     (Path(part).expanduser() for part in env.get("FACE_ALBUM", "").split(os.pathsep) if part)),
    )


def _mqtt(text: str) -> MqttTarget:
    try:
        return parse_mqtt_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _webhooks(text: str) -> tuple[str, ...]:
    """One --webhook, or FACE_WEBHOOKS' URLs separated by spaces."""
    try:
        return tuple(check_webhook_url(url) for url in text.split())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _WebhookList(argparse.Action):
    """--webhook repeats; the URLs given on the command line replace the variable's."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, (() if isinstance(current, str) else current) + values)


def events_config(args: argparse.Namespace, env: Mapping[str, str]) -> EventsConfig:
    return EventsConfig(mqtt=args.mqtt, webhooks=args.webhook,
                        webhook_secret=args.webhook_secret.encode() if args.webhook_secret else None)


def accounts_config(args: argparse.Namespace) -> AccountsConfig:
    if args.liveness_steps > 1 and len(args.liveness_moves) < 2:
        raise SystemExit(f"--liveness-steps {args.liveness_steps} needs at least two --liveness-moves to alternate, "
                         f"not {','.join(args.liveness_moves)}")
    return AccountsConfig(liveness=args.liveness, moves=args.liveness_moves, steps=args.liveness_steps,
                          session_hours=args.session_hours, public_signup=args.public_signup)


def parse_config(argv: Optional[list[str]] = None, env: Optional[Mapping[str, str]] = None) -> Config:
    """Command-line options, each defaulting to an environment variable, then to a built-in value."""
    env = os.environ if env is None else env
    return from_args(build_parser(env).parse_args(argv), env)


def fixtures_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """Where tests and benchmarks find the shared face photos and clip: $FACE_FIXTURES, else ../shared/fixtures."""
    env = os.environ if env is None else env
    return Path(env.get("FACE_FIXTURES") or HERE.parent / "shared" / "fixtures").resolve()
