"""A subscriber of the tests' own on a test broker (tests/support/mosquitto_server.py), keeping every
message it gets with its retain flag: what Home Assistant, or anyone else on the broker, would see."""
from __future__ import annotations

import threading

from tests.support.mosquitto_server import PASSWORD, USER


class Listener:
    """A subscriber of its own (paho), keeping every message with its retain flag."""

    def __init__(self, broker, topics: str = "#") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.username_pw_set(USER, PASSWORD)
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics, qos=1)
        client.on_subscribe = lambda *args: self._subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        assert self._subscribed.wait(10), "the listener could not subscribe"
        self._client = client

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        with self._lock:
            return [(payload, retain) for found, payload, retain in self.messages if found == topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
