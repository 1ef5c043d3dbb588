"""What GET /metrics tells Prometheus: each camera's rates, the model's latency, the events' sinks, the
store's size and the requests served. Read from the parts when scraped; one registry per app (no
global state). Labels hold camera names, sink labels and route names only: never a person's name or
hash, and never a credential.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import generate_latest

if TYPE_CHECKING:
    from webapp.parts import Parts

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestCounts:
    """Requests served, by route (the endpoint's name, never its URL: that may hold a hash), method and
    status. Counted by an after_request hook; read at scrape."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def count(self, route: str, method: str, status: int) -> None:
        key = (route, method if method in METHODS else "OTHER", str(status))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def items(self) -> list[tuple[tuple[str, str, str], int]]:
        with self._lock:
            return list(self._counts.items())


class ServerMetrics:
    """A Prometheus collector over one app's parts."""

    def __init__(self, parts: "Parts") -> None:
        self._parts = parts
        self.requests = RequestCounts()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a collector is anything with collect()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator:
        yield from self._cameras()
        yield from self._model()
        yield from self._events()
        store = self._parts.store
        identities = GaugeMetricFamily("faceapp_store_identities", "people enrolled in the store")
        identities.add_metric([], len(store) if store is not None else 0)
        yield identities
        requests = CounterMetricFamily("faceapp_http_requests", "requests served, by route, method and status",
                                       labels=["route", "method", "status"])
        for labels, count in self.requests.items():
            requests.add_metric(list(labels), count)
        yield requests

    def _cameras(self) -> Iterator:
        families: dict[str, Any] = {
            "up": GaugeMetricFamily("faceapp_camera_up", "1 while the camera gives frames", labels=["camera"]),
            "fps": GaugeMetricFamily("faceapp_camera_frames_per_second",
                                     "frames a second from the camera (what the stream can show), over 5 s",
                                     labels=["camera"]),
            "encoded": CounterMetricFamily("faceapp_stream_frames_encoded", "stream frames encoded to JPEG "
                                           "(once per frame, however many viewers)", labels=["camera"]),
            "analysed_rate": GaugeMetricFamily("faceapp_camera_analysed_per_second",
                                               "frames analysed a second by recognition, over 5 s", labels=["camera"]),
            "analysed": CounterMetricFamily("faceapp_camera_analysed_frames", "frames analysed by recognition",
                                            labels=["camera"]),
            "faces": GaugeMetricFamily("faceapp_camera_faces", "faces followed on the camera now", labels=["camera"]),
            "named": GaugeMetricFamily("faceapp_camera_people_named", "faces on the camera now that are named",
                                       labels=["camera"]),
        }
        for camera in self._parts.cameras:
            view, label = camera.view, [camera.name]
            frames, worker = view.frames, view.worker
            families["up"].add_metric(label, 1 if view.camera_status()["state"] == "live" else 0)
            families["fps"].add_metric(label, frames.rate() if frames is not None else 0.0)
            families["encoded"].add_metric(label, camera.feed.encoded)
            families["analysed_rate"].add_metric(label, worker.rate() if worker is not None else 0.0)
            families["analysed"].add_metric(label, worker.analysed if worker is not None else 0)
            faces = view.now().faces
            families["faces"].add_metric(label, len(faces))
            families["named"].add_metric(label, sum(1 for face in faces if face.known))
        yield from families.values()

    def _model(self) -> Iterator:
        embedder = self._parts.analyzer.embedder
        up = GaugeMetricFamily("faceapp_model_up", "1 while the model process is ready")
        up.add_metric([], 1 if embedder.status.state == "ready" else 0)
        yield up
        latency = SummaryMetricFamily("faceapp_model_request_seconds",
                                      "time the model process took to answer a request (embeddings, faces)")
        latency.add_metric([], getattr(embedder, "answered", 0), getattr(embedder, "answer_seconds", 0.0))
        yield latency

    def _events(self) -> Iterator:
        bus = self._parts.events
        published = CounterMetricFamily("faceapp_events_published", "events the cameras made")
        published.add_metric([], bus.published)
        yield published
        sent = CounterMetricFamily("faceapp_sink_sent", "events and camera states a sink delivered", labels=["sink"])
        dropped = CounterMetricFamily("faceapp_sink_dropped", "events and camera states a sink dropped: its queue "
                                      "was full, or delivery was given up", labels=["sink"])
        queued = GaugeMetricFamily("faceapp_sink_queued", "messages waiting in a sink's queue", labels=["sink"])
        connected = GaugeMetricFamily("faceapp_sink_connected", "1 while a sink's other end is reachable",
                                      labels=["sink"])
        for sink in bus.sinks:
            counts = sink.counts()
            sent.add_metric([sink.name], counts["sent"])
            dropped.add_metric([sink.name], counts["dropped"])
            queued.add_metric([sink.name], counts["queued"])
            connected.add_metric([sink.name], 1 if counts["connected"] else 0)
        yield from (sent, dropped, queued, connected)
