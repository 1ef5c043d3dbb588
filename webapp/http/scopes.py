"""Which scope each endpoint needs, in one table: the guard (auth.py) enforces it and /openapi.json
states it (openapi_doc/security.py), so the two cannot drift.

Default deny: an endpoint this table does not name needs `admin`, so a route added later is open to
admin keys only until someone decides otherwise here. `admin` may do everything. The open list
(auth.OPEN) needs no key at all and is not named here.

- read: what is on camera and who is enrolled, as lists and live state (reads reveal faces and names,
  so they take a key like any change);
- recognize: photos or vectors in, names or vectors out; nothing is kept;
- enroll: adding, renaming, correcting and deleting people, and training the classifier on them;
- admin: the server itself (cameras at run time) and whatever is not listed.
"""
from __future__ import annotations

from types import MappingProxyType

from flask import Flask

from recognition.store.api_keys import SCOPES

ADMIN = "admin"
NEEDS = MappingProxyType({
    # read
    "live.current_hash": "read",  # GET /hash, /hash/<camera>
    "live.streaming": "read",  # GET /streaming, /streaming/<camera>
    "cameras.list_cameras": "read",  # GET /cameras
    "cameras.snapshot": "read",
    "people.list_faces": "read",  # GET /faces
    "people.show": "read",  # GET /faces/<hash>
    "albums.album_status": "read",  # GET /album
    "albums.photo": "read",  # GET /album/photo
    "albums.frame": "read",  # GET /album/frame
    "album_people.people": "read",  # GET /album/people
    "album_people.suggestions": "read",  # GET /album/people/suggestions
    "auth.buy_viewer_cookie": "read",  # the cookie opens the pictures only, which are reads
    "events.events": "read",  # GET /events
    "metrics.metrics": "read",  # GET /metrics
    # recognize
    "embeddings.process_frame": "recognize",
    "embeddings.extract_from_image": "recognize",
    "embeddings.extract_from_video_route": "recognize",
    "embeddings.compare_embeddings": "recognize",
    "verify.verify": "recognize",  # POST /verify
    "anonymize.anonymize": "recognize",  # POST /anonymize
    "classifier.predict_face": "recognize",
    "accounts.login": "recognize",
    "albums.search_by_photo": "recognize",  # POST /album/search
    "albums.search_by_identity": "recognize",  # GET /album/search
    # enroll
    "people.enroll": "enroll",
    "people.enroll_vectors": "enroll",  # POST /faces
    "accounts.register": "enroll",
    "people.rename": "enroll",
    "people.delete": "enroll",
    "people.add_photos": "enroll",
    "people.not_this_person": "enroll",
    "people.import_zip": "enroll",
    "classifier.train_model": "enroll",
    "album_people.label": "enroll",
    "album_people.merge": "enroll",
    "album_people.take_out": "enroll",
    "album_people.forget": "enroll",
    "album_people.split": "enroll",
    "album_people.add_face": "enroll",
    "album_people.reject_face": "enroll",
    "signin.signup": "enroll",  # unless --public-signup opens it
    # admin: cameras.add_camera, cameras.remove_camera, and every endpoint not named above
})


def needed(endpoint: str) -> str:
    """The scope a key needs to call endpoint (admin when the table does not name it)."""
    return NEEDS.get(endpoint, ADMIN)


def allows(scopes: tuple[str, ...], scope: str) -> bool:
    return ADMIN in scopes or scope in scopes


def check(app: Flask) -> None:
    """Refuse a table that names an endpoint the app lacks (a typo would leave the route admin-only) or a
    scope that does not exist."""
    missing = sorted(name for name in NEEDS if name not in app.view_functions)
    wrong = sorted(name for name, scope in NEEDS.items() if scope not in SCOPES)
    if missing or wrong:
        raise RuntimeError(f"webapp.http.scopes names endpoints the app does not have: {missing}, or scopes that "
                           f"do not exist for {wrong}")
