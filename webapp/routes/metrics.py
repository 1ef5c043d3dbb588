"""GET /metrics: Prometheus' text format (services/metrics.py says what is in it). It needs the key like
every read: rates and counts say when people come and go."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.metrics import ServerMetrics
from webapp.current import EXTENSION

bp = Blueprint("metrics", __name__)
METRICS = "faceapp.metrics"


def init_metrics(app: Flask) -> None:
    """One collector per app, and a hook that counts every answer by route, method and status."""
    metrics = app.extensions[METRICS] = ServerMetrics(app.extensions[EXTENSION])

    @app.after_request
    def count(response):
        metrics.requests.count(request.endpoint or "unrouted", request.method, response.status_code)
        return response


@bp.get("/metrics")
def metrics():
    body = current_app.extensions[METRICS].exposition()
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
