"""The Flask app: routes and templates only. Parts are built by run.py and passed in."""
from __future__ import annotations

import io

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider

from webapp.current import EXTENSION
from webapp.http.errors import register_error_handlers
from webapp.http.guard import HostNames
from webapp.parts import Parts

DEFAULT_MAX_UPLOAD = 16 * 1024 * 1024


class InMemoryRequest(Request):
    """Uploads stay in memory whatever their size (Werkzeug would spool large ones to a temp file)."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class SafeJSON(DefaultJSONProvider):
    """A body the parser cannot take for any reason, pathological nesting included, is "not JSON" (a
    400), never an exception that escapes as a 500."""

    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply")


def create_app(parts: Parts, *, max_upload: int = DEFAULT_MAX_UPLOAD, hosts: HostNames = HostNames()) -> Flask:
    """Build the app around already-built parts; starts no thread and loads no model. hosts: the names
    it answers to besides loopback ones (HostNames.for_server from --host and --allowed-hosts)."""
    from webapp.http import auth, bodies, guard, sessions
    from webapp.routes import albums, blueprints, live, metrics

    app = Flask(__name__)
    guard.install(app, hosts)  # first: Host and Origin are checked before any other hook or route
    bodies.install(app)  # then bodies too costly to parse are refused, before anything parses them
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = max_upload
    app.json = SafeJSON(app)
    app.extensions[EXTENSION] = parts
    live.init_stream(app)
    albums.init_album(app)
    metrics.init_metrics(app)
    sessions.configure(app, parts.signing_secret, parts.session_hours)
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    app.register_blueprint(auth.bp)
    auth.install(app)  # with --api-key, every route not on its open list needs the key
    register_error_handlers(app)
    return app
