"""GET /metrics over real HTTP: Prometheus' text format that prometheus-client's own parser reads, behind the
key, counting requests by route and status, with no person's name or hash anywhere in it."""
from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from recognition.live.events import APPEARED, FaceEvent
from services.events import EventBus
from services.sinks.webhooks import WebhookSink
from tests.conftest import load_photo
from webapp import create_app
from webapp.parts import Parts

KEY = "metrics-key"


def samples(text: str) -> dict:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_parse_and_count_requests_sinks_and_the_store(store, analyzer, live_server):
    ada = analyzer.matcher.enroll(analyzer.embed(load_photo("obama/obama1.jpg"))[1][0], "Ada Secret").hash
    sink = WebhookSink("http://127.0.0.1:9/nowhere", b"s", attempts=1, capacity=2)  # nobody listens there
    bus = EventBus([sink])  # not started: what it is offered beyond its queue is dropped and counted
    server = live_server(create_app(Parts.build(store, analyzer, api_key=KEY, events=bus)))
    headers = {"X-API-Key": KEY}
    assert requests.get(server.url + "/metrics", timeout=10).status_code == 401
    for _ in range(3):
        assert requests.get(server.url + f"/faces/{ada}", headers=headers, timeout=10).status_code == 200
    assert requests.get(server.url + "/faces/" + "0" * 64, headers=headers, timeout=10).status_code == 404
    for n in range(5):
        bus.publish(FaceEvent(APPEARED, "door", float(n), track=n))
    answer = requests.get(server.url + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    found = samples(answer.text)
    face = "people.show"
    assert found[("faceapp_http_requests_total", (("method", "GET"), ("route", face), ("status", "200")))] == 3
    assert found[("faceapp_http_requests_total", (("method", "GET"), ("route", face), ("status", "404")))] == 1
    assert found[("faceapp_http_requests_total", (("method", "GET"), ("route", "metrics.metrics"),
                                                  ("status", "401")))] == 1
    assert found[("faceapp_store_identities", ())] == 1
    assert found[("faceapp_events_published_total", ())] == 5
    assert found[("faceapp_sink_dropped_total", (("sink", "webhook:http://127.0.0.1:9"),))] == 3
    assert found[("faceapp_sink_queued", (("sink", "webhook:http://127.0.0.1:9"),))] == 2
    assert ada not in answer.text and "Ada" not in answer.text and "nowhere" not in answer.text
