"""The house is told: a person walking into an HD camera's view makes one `named` event, with the same
content over Server-Sent Events, a real Mosquitto broker and a real webhook receiver; the camera's
people are the broker's retained state; /metrics says it all in Prometheus' format. Real clip, the
real model, real HTTP (waitress)."""
from __future__ import annotations

import json
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.events import EventBus
from services.sinks.mqtt import MqttSink, parse_mqtt_url
from services.sinks.webhooks import WebhookSink
from tests.conftest import load_photo, wait_until
from tests.support.mqtt_listener import Listener
from tests.support.sse import read_sse
from tests.support.walk_in import walk_in_clip
from tests.support.webhook_receiver import WebhookReceiver
from webapp import create_app

KEY = "events-key"
pytestmark = pytest.mark.mqtt


def test_a_person_walking_in_is_named_once_over_sse_mqtt_and_a_webhook(cameras_rig, live_server, analyzer,
                                                                      mosquitto, tmp_path):
    ada = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Barack").hash
    # An empty street, then the person walks in and stands for half a minute: hundreds of analysed frames.
    clip = walk_in_clip(tmp_path / "door.avi", "obama/obama2.jpg", walk=2.0, stay=30.0)
    receiver = WebhookReceiver()
    mqtt_sink = MqttSink(parse_mqtt_url(mosquitto.url("house")))
    bus = EventBus([mqtt_sink, WebhookSink(receiver.url, b"hook-secret")]).start()
    listener = Listener(mosquitto, "house/#")
    try:
        assert wait_until(lambda: mqtt_sink.connected, timeout=10)
        parts = cameras_rig({"door": str(clip)}, api_key=KEY, events=bus)
        server = live_server(create_app(parts))
        over_sse: list[dict] = []

        def watch():
            with requests.get(server.url + "/events", headers={"X-API-Key": KEY}, stream=True,
                              timeout=60) as stream:
                over_sse.extend(read_sse(stream, 1000, timeout=20))

        watcher = threading.Thread(target=watch)
        watcher.start()
        watcher.join(40)  # 20 s of events: the person walks in and stands
        named_sse = [event["data"] for event in over_sse if event["event"] == "named"]
        assert [event["hash"] for event in named_sse] == [ada], over_sse  # once, not once per frame
        event = named_sse[0]
        assert event["camera"] == "door" and event["name"] == "Barack" and event["similarity"] > 0.9
        assert set(event) == {"id", "type", "camera", "track", "hash", "name", "similarity", "visitor", "at"}
        # The same event, with the same content, over MQTT and the webhook.
        named_mqtt = [json.loads(payload) for payload, _ in listener.on("house/door/event")
                      if json.loads(payload)["type"] == "named"]
        assert named_mqtt == [event]
        named_hook = [json.loads(body) for body in receiver.bodies() if json.loads(body)["type"] == "named"]
        assert named_hook == [event]
        state = json.loads(listener.on("house/door/state")[-1][0])
        assert state["people"] == [{"hash": ada, "name": "Barack"}] and state["summary"].startswith("Barack")
        metrics = requests.get(server.url + "/metrics", headers={"X-API-Key": KEY}, timeout=10)
        assert metrics.status_code == 200 and requests.get(server.url + "/metrics", timeout=10).status_code == 401
        families = {family.name: family for family in text_string_to_metric_families(metrics.text)}
        value = {(family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
                 for family in families.values() for sample in family.samples}
        assert value[("faceapp_camera_frames_per_second", "faceapp_camera_frames_per_second",
                      (("camera", "door"),))] > 5
        assert value[("faceapp_camera_analysed_frames", "faceapp_camera_analysed_frames_total",
                      (("camera", "door"),))] > 10
        assert value[("faceapp_sink_sent", "faceapp_sink_sent_total", (("sink", "mqtt"),))] >= 2
        assert value[("faceapp_model_request_seconds", "faceapp_model_request_seconds_count", ())] >= 1
        assert value[("faceapp_store_identities", "faceapp_store_identities", ())] == 1
        assert ada not in metrics.text and "Barack" not in metrics.text and "hook-secret" not in metrics.text
    finally:
        listener.close()
        bus.stop()
        receiver.close()
