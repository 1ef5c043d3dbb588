"""Events to a real Mosquitto broker (started by the tests, as PostgreSQL's are): each camera announced
to Home Assistant by retained discovery messages it can read, its people as a retained state, events
on their topic, availability through a last will, and a broker that goes away costs the publisher
nothing: the sink's bounded queue drops what does not fit, counts it, and the sink reconnects."""
from __future__ import annotations

import json
import time

import pytest

from recognition.live.events import APPEARED, NAMED, CameraState, FaceEvent
from services.events import EventBus
from services.sinks.mqtt import MqttSink, parse_mqtt_url
from tests.conftest import wait_until
from tests.support.mqtt_listener import Listener

pytestmark = pytest.mark.mqtt


@pytest.fixture
def sink_to(mosquitto):
    made = []

    def make(prefix: str = "faceapp", **options) -> MqttSink:
        sink = MqttSink(parse_mqtt_url(mosquitto.url(prefix)), **options).start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.stop(timeout=3)


def test_each_camera_is_announced_to_home_assistant_with_retained_valid_discovery(mosquitto, sink_to):
    sink = sink_to("house/faces")
    bus = EventBus([sink])
    assert wait_until(lambda: sink.connected, timeout=10)
    bus.set_state(CameraState("door", (("h-ada", "Ada"),), 1, 100.0))
    bus.publish(FaceEvent(NAMED, "door", 100.0, track=3, identity_hash="h-ada", name="Ada", similarity=0.97))
    assert wait_until(lambda: sink.counts()["sent"] >= 2, timeout=10)
    # A subscriber that comes afterwards (Home Assistant starting later) still learns everything retained.
    late = Listener(mosquitto)
    try:
        assert wait_until(lambda: late.on("house/faces/door/state") and late.on("house/faces/availability")
                          and len([m for m in late.messages if m[0].startswith("homeassistant/")]) >= 2, timeout=10)
        state, retained = late.on("house/faces/door/state")[0]
        assert retained and json.loads(state) == {
            "camera": "door", "summary": "Ada, 1 unknown", "count": 2, "unknown": 1,
            "people": [{"hash": "h-ada", "name": "Ada"}], "at": 100.0}
        assert late.on("house/faces/availability") == [(b"online", True)]
        configs = {topic: json.loads(payload) for topic, payload, retain in late.messages
                   if topic.startswith("homeassistant/") and retain}
        assert set(configs) == {"homeassistant/sensor/house_faces/door_people/config",
                                "homeassistant/sensor/house_faces/door_count/config"}
        for config in configs.values():
            # What Home Assistant's MQTT sensor needs: a state topic that is published, a template over its JSON,
            # a unique id, the availability topic and its payloads, and the device it belongs to.
            assert config["state_topic"] == "house/faces/door/state" == config["json_attributes_topic"]
            assert config["availability_topic"] == "house/faces/availability"
            assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
            assert config["value_template"].startswith("{{ value_json.") and config["unique_id"].startswith("faceapp_")
            assert config["device"]["identifiers"] == ["faceapp_house_faces"] and config["name"].startswith("door ")
            field = config["value_template"].removeprefix("{{ value_json.").removesuffix(" }}")
            assert field in json.loads(state)  # the template reads a field the state has
        assert len({config["unique_id"] for config in configs.values()}) == 2
    finally:
        late.close()


def test_events_go_to_their_camera_topic_not_retained(mosquitto, sink_to):
    listener = Listener(mosquitto, "faceapp/+/event")
    sink = sink_to()
    bus = EventBus([sink])
    try:
        assert wait_until(lambda: sink.connected, timeout=10)
        sent = bus.publish(FaceEvent(APPEARED, "hall", 5.0, track=1))
        assert wait_until(lambda: listener.on("faceapp/hall/event"), timeout=10)
        payload, retained = listener.on("faceapp/hall/event")[0]
        assert not retained and json.loads(payload) == sent.to_json()
    finally:
        listener.close()


def test_a_broker_that_is_away_costs_the_publisher_nothing_and_its_drops_are_counted(mosquitto, sink_to):
    sink = sink_to(capacity=20)
    bus = EventBus([sink])
    assert wait_until(lambda: sink.connected, timeout=10)
    availability = Listener(mosquitto, "faceapp/availability")
    availability.close()
    mosquitto.stop()
    try:
        assert wait_until(lambda: not sink.connected, timeout=10)
        started = time.monotonic()
        for n in range(500):  # a busy camera's worth of events, with nobody to take them
            bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
        assert time.monotonic() - started < 1.0  # never waited for the broker (500 events, not 500 timeouts)
        counts = sink.counts()
        assert counts["dropped"] >= 500 - 20 - 1 and counts["queued"] <= 20
    finally:
        mosquitto.start()
    # The broker is back: the sink reconnects by itself and what was queued goes out.
    assert wait_until(lambda: sink.connected, timeout=40)
    listener = Listener(mosquitto, "faceapp/door/event")
    try:
        bus.publish(FaceEvent(NAMED, "door", 999.0, track=1, identity_hash="h-ada", name="Ada"))
        assert wait_until(lambda: any(json.loads(p)["at"] == 999.0 for p, _ in listener.on("faceapp/door/event")),
                          timeout=10)
    finally:
        listener.close()


def test_the_last_will_says_offline_when_the_server_dies(mosquitto):
    import subprocess
    import sys

    listener = Listener(mosquitto, "dying/availability")
    script = ("import time\nfrom services.sinks.mqtt import MqttSink, parse_mqtt_url\n"
              f"sink = MqttSink(parse_mqtt_url({mosquitto.url('dying')!r}), keepalive=2).start()\n"
              "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert wait_until(lambda: (b"online", False) in listener.on("dying/availability"), timeout=15)
        child.kill()  # no goodbye: the broker publishes the will
        assert wait_until(lambda: (b"offline", False) in listener.on("dying/availability"), timeout=15)
    finally:
        child.kill()
        listener.close()


def test_a_wrong_password_is_refused_and_never_logged(mosquitto, caplog):
    sink = MqttSink(parse_mqtt_url(mosquitto.url(password="not-the-password")))
    sink.start()
    try:
        assert wait_until(lambda: sink.refused, timeout=10) and not sink.connected
        sink.offer(CameraState("door", (), 0, 1.0))
    finally:
        sink.stop(timeout=3)
    assert "not-the-password" not in caplog.text and "broker-secret" not in repr(parse_mqtt_url(mosquitto.url()))


@pytest.mark.parametrize("url, complaint", [
    ("http://broker", "mqtt://"), ("mqtt://", "no broker host"), ("mqtt://broker:99999", "port"),
    ("mqtt://broker/a+b", "prefix"), ("mqtt://u:pw@broker/x?q=1", "query")])
def test_a_wrong_broker_url_says_what_is_wrong_without_repeating_it(url, complaint):
    with pytest.raises(ValueError) as refused:
        parse_mqtt_url(url)
    assert complaint in str(refused.value) and "pw" not in str(refused.value)
