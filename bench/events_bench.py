"""What telling the house costs recognition: real servers (run.py in a child process, as an operator runs it)
watching two cameras, with no sinks (the baseline, measured in the same run), with a real Mosquitto broker
and a webhook receiver that take everything, and with both away (nothing listening on their ports).

The cameras: a door, 1280x720 at 15 fps, where an enrolled person walks in from the edge and stands
(tests/support/walk_in.py, looped); and a street crowd at 1920x1080, 25 fps (tests/crowd.py), in which
two of the passers-by are enrolled from other photos. For each setting, over the window it prints:
- each camera's analysed frames a second (from /metrics), and its ratio to the baseline's;
- the server's cores used (every process of it, the model's included);
- events a minute by type, and how many `named` events the door's one person made per visit;
- how long an event takes from its frame's capture to a client: over SSE, MQTT and the webhook (median, max);
- what each sink sent and dropped.
Then, in this process, what publishing one event costs with an MQTT and a webhook sink both away.

Run: make bench-events   (or .venv/bin/python bench/events_bench.py [--seconds 40])
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live_bench import _children, cpu_seconds  # noqa: E402
from bench.parts import FIXTURES, ServerProcess, free_port, provision_weights  # noqa: E402

ENROLL = {"Barack": "obama/obama3.jpg", "Joe": "biden/biden2.jpg"}
WALK_LOOP = 6.0 + 2.0 + 12.0  # the door clip: empty (long enough to count as leaving), walking in, standing


class Deliveries:
    """When each event reached a client, by the way it came: (received - at) seconds, and the events."""

    def __init__(self) -> None:
        self.delays: dict[str, list[float]] = {"sse": [], "mqtt": [], "webhook": []}
        self.events: list[dict] = []
        self._lock = threading.Lock()

    def got(self, way: str, event: dict) -> None:
        with self._lock:
            self.delays[way].append(time.time() - event["at"])
            if way == "sse":
                self.events.append(event)


class Receiver:
    def __init__(self, deliveries: Deliveries) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                deliveries.got("webhook", json.loads(body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sse_listener(url: str, deliveries: Deliveries, stop: threading.Event) -> threading.Thread:
    def listen():
        with requests.get(url + "/events", stream=True, timeout=(5, 30)) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    deliveries.got("sse", json.loads(line[6:]))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return thread


def metric(text: str, name: str, camera: str = "") -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (not camera or sample.labels.get("camera") == camera):
                return sample.value
    return 0.0


def sink_counts(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("faceapp_sink_sent_total", "faceapp_sink_dropped_total", "faceapp_sink_queued"):
                counts.setdefault(sample.labels["sink"].split(":")[0], {})[sample.name.split("_")[2]] = sample.value
    return counts


def measure(label: str, server: ServerProcess, seconds: float, deliveries: Deliveries) -> dict:
    stop = threading.Event()
    sse_listener(server.url, deliveries, stop)
    time.sleep(seconds / 4)  # the model warm, everyone once named: the window starts here
    deliveries.delays = {way: [] for way in deliveries.delays}
    deliveries.events = []
    before = server.session.get(server.url + "/metrics", timeout=10).text
    pids = [server.process.pid] + _children(server.process.pid)
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu = (cpu_seconds([server.process.pid] + _children(server.process.pid)) - cpu_before) / elapsed
    after = server.session.get(server.url + "/metrics", timeout=10).text
    stop.set()
    analysed = {camera: (metric(after, "faceapp_camera_analysed_frames_total", camera)
                         - metric(before, "faceapp_camera_analysed_frames_total", camera)) / elapsed
                for camera in ("door", "crowd")}
    kinds = Counter((event["camera"], event["type"]) for event in deliveries.events)
    door_named = sum(1 for e in deliveries.events if e["camera"] == "door" and e["type"] == "named")
    return {"label": label, "analysed": analysed, "cpu": cpu, "elapsed": elapsed, "kinds": kinds,
            "door_named_per_visit": door_named / max(1.0, elapsed / WALK_LOOP),
            "delays": {way: list(found) for way, found in deliveries.delays.items()}, "sinks": sink_counts(after)}


def publish_cost(events: int = 20000) -> float:
    """Microseconds one publish takes with an MQTT sink and a webhook sink whose ends are away."""
    import logging

    logging.getLogger("services.sinks").setLevel(logging.ERROR)
    from recognition.live.events import APPEARED, FaceEvent
    from services.events import EventBus
    from services.sinks.mqtt import MqttSink, parse_mqtt_url
    from services.sinks.webhooks import WebhookSink

    sinks = [MqttSink(parse_mqtt_url(f"mqtt://127.0.0.1:{free_port()}/bench")),
             WebhookSink(f"http://127.0.0.1:{free_port()}/hook", b"s", attempts=1)]
    bus = EventBus(sinks).start()
    try:
        started = time.perf_counter()
        for n in range(events):
            bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
        return (time.perf_counter() - started) / events * 1e6
    finally:
        bus.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="the measuring window of each setting")
    args = parser.parse_args()
    from tests.crowd import CrowdScene
    from tests.support.mosquitto_server import PASSWORD, USER, MosquittoServer
    from tests.support.walk_in import walk_in_clip

    work = Path(tempfile.mkdtemp(prefix="faceapp-events-bench-"))
    weights = provision_weights(work)
    print("making the clips (a door at 1280x720, a crowd at 1920x1080)...", flush=True)
    door = walk_in_clip(work / "door.avi", "obama/obama1.jpg", empty=6.0, walk=2.0, stay=12.0)
    crowd = CrowdScene(seed=5).write(work / "crowd.avi", 20.0)
    broker = MosquittoServer().start()
    deliveries = Deliveries()
    receiver = Receiver(deliveries)
    listener = mqtt_listener(broker.port, deliveries, USER, PASSWORD)
    settings = {
        "no sinks (baseline)": {},
        "MQTT and webhook taking everything": {"FACE_MQTT": broker.url("bench"), "FACE_WEBHOOKS": receiver.url},
        "MQTT and webhook away": {"FACE_MQTT": f"mqtt://127.0.0.1:{free_port()}/bench",
                                  "FACE_WEBHOOKS": f"http://127.0.0.1:{free_port()}/hook"},
    }
    results = []
    try:
        for number, (label, env) in enumerate(settings.items()):
            data_dir = work / f"db{number}"
            server = ServerProcess(root=ROOT, clip=door, data_dir=data_dir, key_file=work / "keys" / f"{number}.key",
                                   weights=weights, log=work / f"server{number}.log", start_timeout=180)
            server.env.update(env, FACE_CAMERAS=f"door={door};crowd={crowd}", FACE_WEBHOOK_SECRET="bench-secret")
            enroll(data_dir, work / "keys" / f"{number}.key", weights)
            print(f"{label}: starting the server...", flush=True)
            server.start()
            try:
                results.append(measure(label, server, args.seconds, deliveries))
            finally:
                server.stop()
    finally:
        listener.loop_stop()
        receiver.close()
        broker.remove()
    report(results)
    print(f"\npublishing one event with an MQTT and a webhook sink both away: {publish_cost():.1f} µs")
    return 0


def mqtt_listener(port: int, deliveries: Deliveries, user: str, password: str):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("bench/+/event", qos=1)
    client.on_message = lambda c, u, message: deliveries.got("mqtt", json.loads(message.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def enroll(data_dir: Path, key_file: Path, weights: Path) -> None:
    """The people, each from another photo than the cameras show, with the store the server will open."""
    import os

    from recognition.images import decode_image
    from recognition.pipeline.build import build_analyzer
    from recognition.store import open_store

    os.environ["DEEPFACE_HOME"] = str(weights.parent.parent)
    store = open_store(data_dir, key_file)
    analyzer = build_analyzer(store, "Dlib", weights)
    try:
        for name, photo in ENROLL.items():
            image = decode_image((FIXTURES / "faces" / photo).read_bytes())
            analyzer.matcher.enroll(analyzer.embed(image)[1][0], name)
    finally:
        analyzer.embedder.stop()
        store.close()


def report(results: list[dict]) -> None:
    base = results[0]["analysed"]
    print(f"\n{'setting':38} {'door /s':>8} {'ratio':>6} {'crowd /s':>9} {'ratio':>6} {'cores':>6}")
    for result in results:
        door, crowd = result["analysed"]["door"], result["analysed"]["crowd"]
        print(f"{result['label']:38} {door:8.2f} {door / max(base['door'], 1e-9):6.2f} {crowd:9.2f} "
              f"{crowd / max(base['crowd'], 1e-9):6.2f} {result['cpu']:6.2f}")
    print("\nevents a minute (door | crowd) and the door's `named` events per visit of its one person:")
    for result in results:
        minutes = result["elapsed"] / 60
        kinds = result["kinds"]
        line = " ".join(f"{kind} {kinds[('door', kind)] / minutes:.1f}|{kinds[('crowd', kind)] / minutes:.1f}"
                        for kind in ("appeared", "named", "visitor", "left"))
        print(f"  {result['label']:38} {line}   named per visit {result['door_named_per_visit']:.2f}")
    print("\nfrom the frame's capture to the client, seconds (median / max), and what each sink sent and dropped:")
    for result in results:
        delays = "  ".join(f"{way} {statistics.median(found):.2f}/{max(found):.2f}" if found else f"{way} -"
                           for way, found in result["delays"].items())
        sinks = "  ".join(f"{name} sent {counts.get('sent', 0):.0f} dropped {counts.get('dropped', 0):.0f} "
                          f"queued {counts.get('queued', 0):.0f}" for name, counts in sorted(result["sinks"].items()))
        print(f"  {result['label']:38} {delays}   {sinks or 'no sinks'}")


if __name__ == "__main__":
    sys.exit(main())
