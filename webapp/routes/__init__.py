"""The routes, one module per feature: each parses a request, calls one service (services/) and
serialises the answer. Their OpenAPI descriptions are in webapp/routes/openapi.py, which a test holds
to the app's URL map both ways."""
from __future__ import annotations


def blueprints() -> list:
    """Every feature's blueprint, in the order they are registered."""
    from webapp.routes import (
        accounts,
        album_people,
        albums,
        anonymize,
        cameras,
        classifier,
        embeddings,
        events,
        health,
        live,
        metrics,
        openapi,
        people,
        signin,
        verify,
    )

    return [live.bp, cameras.bp, people.bp, accounts.bp, signin.bp, embeddings.bp, albums.bp, album_people.bp,
            classifier.bp, openapi.bp, health.bp, verify.bp, events.bp, metrics.bp, anonymize.bp]
