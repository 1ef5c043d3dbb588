"""Every error leaves the server as JSON {"error": "..."} with a fitting status code."""
from __future__ import annotations

import logging
from typing import Optional

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from camera.specs import CameraSpecError
from recognition.album.corrections import StaleListing
from recognition.models.embedder_process import EmbedderUnavailable
from recognition.store.interface import StoreUnavailable, StoreWriteFailed
from services.albums import AlbumQueryError, NoAlbums, NoSuchAlbumPerson
from services.cameras import CameraExists, CannotAddCamera, NoSuchCamera
from services.classifier import CannotClassify
from services.people import NoSuchPerson

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, headers: Optional[dict] = None, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return jsonify({"error": error.message, **error.extra}), error.status, error.headers

    @app.errorhandler(NoSuchPerson)
    @app.errorhandler(NoAlbums)
    @app.errorhandler(NoSuchAlbumPerson)
    @app.errorhandler(NoSuchCamera)
    def not_found(error: Exception):
        return jsonify({"error": str(error)}), 404

    @app.errorhandler(CannotClassify)
    @app.errorhandler(StaleListing)
    @app.errorhandler(CameraExists)
    @app.errorhandler(CannotAddCamera)
    def conflict(error: Exception):
        return jsonify({"error": str(error)}), 409

    @app.errorhandler(CameraSpecError)
    def bad_camera(error: CameraSpecError):
        return jsonify({"error": str(error)}), 400

    @app.errorhandler(AlbumQueryError)
    def album_query(error: AlbumQueryError):
        return jsonify({"error": str(error)}), error.status

    @app.errorhandler(StoreWriteFailed)
    def store_unwritable(error: StoreWriteFailed):
        log.error("%s", error)
        retry = {"Retry-After": "5"} if isinstance(error, StoreUnavailable) else {}
        return jsonify({"error": str(error)}), 503, retry

    @app.errorhandler(EmbedderUnavailable)
    def model_unavailable(error: EmbedderUnavailable):
        return jsonify({"error": f"the face model is not available right now: {error}"}), 503, {"Retry-After": "5"}

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify({"error": error.description or error.name}), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        return jsonify({"error": InternalServerError.description}), 500
