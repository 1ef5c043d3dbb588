"""Events to an MQTT broker (--mqtt), and each camera to Home Assistant as a sensor of who is in view.

Topics, under the URL's path as prefix (default "faceapp"):
- `<prefix>/<camera>/event`: every event, as JSON (not retained);
- `<prefix>/<camera>/state`: who is on the camera now (retained, so a subscriber learns it at once);
- `<prefix>/availability`: "online", or "offline" through the broker (the last will) when the server is gone;
- `homeassistant/sensor/<prefix>/<camera>_people/config` and `..._count/config`: Home Assistant's MQTT
  discovery (retained), so each camera appears there without configuration by hand.
paho-mqtt connects and reconnects in its own thread; a broker that is away fills this sink's bounded
queue, and what does not fit is dropped and counted, never waited for.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote, urlsplit

from recognition.live.events import CameraState, FaceEvent
from services.events import CameraGone, Message
from services.sinks.queued import QueuedSink

log = logging.getLogger(__name__)

DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = "online", "offline"
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/")


@dataclass(frozen=True)
class MqttTarget:
    """Where --mqtt points: mqtt://[user[:password]@]host[:port][/prefix], or mqtts:// for TLS."""

    host: str
    port: int
    prefix: str = "faceapp"
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    tls: bool = False

    @property
    def label(self) -> str:
        """For logs and /metrics: never the credentials."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.prefix}"

    @property
    def node(self) -> str:
        """This server in Home Assistant's topics and ids."""
        return self.prefix.replace("/", "_")


def parse_mqtt_url(url: str) -> MqttTarget:
    """The broker of --mqtt; ValueError saying what is wrong (without repeating a password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError("--mqtt must be mqtt://[user:password@]host[:port][/prefix] (or mqtts:// for TLS)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("--mqtt has a port that is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("--mqtt names no broker host")
    prefix = parts.path.strip("/") or "faceapp"
    if not set(prefix) <= _TOPIC_CHARS or "//" in prefix or len(prefix) > 64:
        raise ValueError("--mqtt's topic prefix (the URL's path) may hold letters, digits, '_', '-' and '/' only")
    if parts.query or parts.fragment:
        raise ValueError("--mqtt takes no query or fragment")
    tls = parts.scheme == "mqtts"
    return MqttTarget(parts.hostname, port or (8883 if tls else 1883), prefix,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password is not None else None, tls)


class MqttSink(QueuedSink):
    def __init__(self, target: MqttTarget, *, capacity: int = 1000, discovery_prefix: str = DISCOVERY_PREFIX,
                 keepalive: int = 30) -> None:
        import paho.mqtt.client as mqtt

        super().__init__("mqtt", capacity=capacity)
        self.target = target
        self._discovery = discovery_prefix
        self._keepalive = keepalive
        self._connected = threading.Event()
        self._announced: set[str] = set()  # cameras whose discovery config this connection has published
        self._states: dict[str, CameraState] = {}  # every camera's latest, published again on reconnect
        self.refused: Optional[str] = None  # why the broker refused the last connection (a wrong password...)
        client_id = f"faceapp-{target.node}-{secrets.token_hex(3)}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if target.username is not None:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set()
        client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(capacity)  # what paho itself holds unacknowledged is bounded too
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        self._published = mqtt.MQTT_ERR_SUCCESS  # what publish() returns when paho took the message

    @property
    def availability_topic(self) -> str:
        return f"{self.target.prefix}/availability"

    def topic(self, camera: str, what: str) -> str:
        return f"{self.target.prefix}/{camera}/{what}"

    def discovery_topics(self, camera: str) -> dict[str, str]:
        base = f"{self._discovery}/sensor/{self.target.node}/{camera}"
        return {"people": f"{base}_people/config", "count": f"{base}_count/config"}

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def offer(self, message: Message) -> None:
        if isinstance(message, CameraState):
            self._states = {**self._states, message.camera: message}
        elif isinstance(message, CameraGone):
            self._states = {name: state for name, state in self._states.items() if name != message.camera}
        super().offer(message)

    def start(self) -> "MqttSink":
        self._client.connect_async(self.target.host, self.target.port, keepalive=self._keepalive)
        self._client.loop_start()  # connects, and reconnects with backoff, in paho's own thread
        log.info("events to %s", self.target.label)
        super().start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        super().stop(timeout)
        try:
            if self.connected:  # a clean goodbye: the will is for when the server dies
                self._client.publish(self.availability_topic, OFFLINE, qos=1, retain=True).wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:  # paho's queue full, or the connection gone meanwhile
            log.info("%s: no goodbye sent (%s); the broker's last will says it", self.target.label, exc)
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def deliver(self, message: Message) -> bool:
        while not self._connected.wait(0.5):  # the queue fills meanwhile; what does not fit is dropped
            if self._stop.is_set():
                return False
        if isinstance(message, CameraGone):
            self._forget(message.camera)
            return True
        self._announce(message.camera)
        if isinstance(message, FaceEvent):
            return self._publish(self.topic(message.camera, "event"), message.to_json(), retain=False)
        return self._publish(self.topic(message.camera, "state"), message.to_json(), retain=True)

    def _publish(self, topic: str, payload, *, retain: bool) -> bool:
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload, separators=(",", ":"))
        return self._client.publish(topic, body, qos=1, retain=retain).rc == self._published

    def _announce(self, camera: str) -> None:
        if camera in self._announced:
            return
        for kind, topic in self.discovery_topics(camera).items():
            self._publish(topic, self.discovery_config(camera, kind), retain=True)
        self._announced.add(camera)

    def _forget(self, camera: str) -> None:
        """Empty retained messages delete the sensor in Home Assistant and the state on the broker."""
        for topic in (*self.discovery_topics(camera).values(), self.topic(camera, "state")):
            self._publish(topic, b"", retain=True)
        self._announced.discard(camera)

    def discovery_config(self, camera: str, kind: str) -> dict:
        """Home Assistant's MQTT discovery payload for a camera's sensor: "people" says who is in view
        (its attributes list them with their hashes), "count" how many faces."""
        node = self.target.node
        common = {
            "state_topic": self.topic(camera, "state"), "json_attributes_topic": self.topic(camera, "state"),
            "availability_topic": self.availability_topic, "payload_available": ONLINE,
            "payload_not_available": OFFLINE, "unique_id": f"faceapp_{node}_{camera}_{kind}",
            "device": {"identifiers": [f"faceapp_{node}"], "name": f"Face recognition ({node})",
                       "manufacturer": "faceapp", "model": "face-recognition server"},
        }
        if kind == "people":
            return {**common, "name": f"{camera} people", "icon": "mdi:face-recognition",
                    "value_template": "{{ value_json.summary }}"}
        return {**common, "name": f"{camera} faces", "icon": "mdi:account-group", "state_class": "measurement",
                "unit_of_measurement": "faces", "value_template": "{{ value_json.count }}"}

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            log.warning("%s refused the connection: %s", self.target.label, reason_code)
            return
        self.refused = None
        log.info("connected to %s", self.target.label)
        client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        self._announced = set()
        for state in self._states.values():  # a broker that lost its retained messages learns them again
            super().offer(state)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set() and not self._stop.is_set():
            log.warning("disconnected from %s (%s); reconnecting", self.target.label, reason_code)
        self._connected.clear()
