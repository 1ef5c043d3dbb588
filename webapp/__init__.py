"""The Flask app: routes and templates only. Parts are built by run.py and passed in."""
from __future__ import annotations

from flask import Flask

from webapp.errors import register_error_handlers
from webapp.services import EXTENSION, Services

DEFAULT_MAX_UPLOAD = 16 * 1024 * 1024


def create_app(services: Services, *, max_upload: int = DEFAULT_MAX_UPLOAD) -> Flask:
    """Build the app around already-built parts; starts no thread and loads no model."""
    from webapp import api, stream

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload
    app.json.sort_keys = False
    app.extensions[EXTENSION] = services
    stream.init_stream(app)
    app.register_blueprint(stream.bp)
    app.register_blueprint(api.bp)
    register_error_handlers(app)
    return app
