"""Webhooks against a real receiver on 127.0.0.1: each event POSTed as JSON with an HMAC-SHA256 signature
the receiver can check, retried with backoff when the receiver fails, dropped (and counted) after a
bound, and a receiver that is down never slows the publisher."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest

from recognition.live.events import APPEARED, NAMED, CameraState, FaceEvent
from services.events import EventBus
from services.sinks.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSink, check_webhook_url
from tests.conftest import wait_until
from tests.support.webhook_receiver import WebhookReceiver

SECRET = b"hook-secret"


@pytest.fixture
def receiver():
    made = WebhookReceiver()
    yield made
    made.close()


@pytest.fixture
def sinks():
    made = []

    def make(url: str, **options) -> WebhookSink:
        sink = WebhookSink(url, SECRET, **options).start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.stop(timeout=3)


def test_each_event_arrives_signed_and_states_are_not_sent(receiver, sinks):
    sink = sinks(receiver.url)
    bus = EventBus([sink])
    bus.set_state(CameraState("door", (), 0, 1.0))  # MQTT's retained state; a webhook gets events only
    sent = bus.publish(FaceEvent(NAMED, "door", 12.5, track=4, identity_hash="h-ada", name="Ada", similarity=0.96))
    assert wait_until(lambda: receiver.received, timeout=10)
    headers, body = receiver.received[0]
    assert json.loads(body) == sent.to_json() and headers["Content-Type"] == "application/json"
    # The receiver's check: HMAC-SHA256 of "<timestamp>.<body>" under the shared secret, compared in constant time.
    timestamp = headers[TIMESTAMP_HEADER]
    expected = "sha256=" + hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert abs(int(timestamp) - time.time()) < 60
    forged = "sha256=" + hmac.new(b"another-secret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] != forged
    assert len(receiver.received) == 1 and sink.counts()["sent"] == 1


def test_a_failing_receiver_is_retried_with_backoff_then_the_event_is_dropped_and_counted(receiver, sinks):
    sink = sinks(receiver.url, attempts=3, backoff=0.05)
    bus = EventBus([sink])
    receiver.fail_next(500, 503)  # fails twice, then takes it
    bus.publish(FaceEvent(APPEARED, "door", 1.0, track=1))
    assert wait_until(lambda: receiver.received, timeout=10)
    assert sink.counts()["sent"] == 1 and sink.failures == 2 and sink.counts()["dropped"] == 0
    receiver.fail_next(500, 500, 500)  # fails every try: dropped after three
    bus.publish(FaceEvent(APPEARED, "door", 2.0, track=2))
    assert wait_until(lambda: sink.counts()["dropped"] == 1, timeout=10)
    receiver.fail_next(400)  # refused for good: not retried
    bus.publish(FaceEvent(APPEARED, "door", 3.0, track=3))
    assert wait_until(lambda: sink.counts()["dropped"] == 2, timeout=10) and sink.failures == 5
    assert [json.loads(body)["track"] for body in receiver.bodies()] == [1]


def test_a_receiver_that_is_down_costs_the_publisher_nothing_and_its_drops_are_counted(sinks):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = sinks(f"http://127.0.0.1:{port}/hook", attempts=2, backoff=0.05, capacity=10)
    bus = EventBus([sink])
    started = time.monotonic()
    for n in range(300):
        bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
    assert time.monotonic() - started < 1.0
    assert wait_until(lambda: sink.counts()["dropped"] == 300 and sink.counts()["queued"] == 0, timeout=30)
    assert sink.counts()["sent"] == 0


def test_redirects_are_not_followed(receiver, sinks):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        sink = sinks(f"http://127.0.0.1:{redirector.server_address[1]}/hook", attempts=2, backoff=0.01)
        EventBus([sink]).publish(FaceEvent(APPEARED, "door", 1.0, track=1))
        assert wait_until(lambda: sink.counts()["dropped"] == 1, timeout=10)
        assert receiver.received == []  # the event went nowhere it was not configured to go
    finally:
        redirector.shutdown()
        redirector.server_close()


def test_the_sink_is_named_without_path_query_or_credentials():
    sink = WebhookSink("https://user:pw@hooks.example:8443/path?token=secret", SECRET)
    assert sink.name == "webhook:https://hooks.example:8443"
    for wrong, complaint in [("ftp://user:pw@hooks.example/x", "http"), ("https://user:pw@hooks.example/x", "user"),
                             ("https://hooks.example/a b", "space")]:
        with pytest.raises(ValueError) as refused:
            check_webhook_url(wrong)
        assert complaint in str(refused.value) and "pw" not in str(refused.value)
