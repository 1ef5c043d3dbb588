"""The albums' people over HTTP: the grouping with its corrections, and the corrections themselves
(name a person, link it to an enrolled identity, hide it, merge two, split one, take a face out, confirm
or reject a suggested face). Changes need the API key when one is configured, like every other change
(the `enroll` scope: webapp/http/scopes.py); the listings need it as reads do."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from recognition.album.people import FaceRef, Person
from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import requires_key
from webapp.http.errors import ApiError

bp = Blueprint("album_people", __name__)

MAX_SPLIT_FACES = 1000  # faces one split may name (its JSON body limit: webapp/http/bodies.py)
MAX_SUGGESTIONS = 200  # faces GET /album/people/suggestions answers at most
SUGGESTIONS = 20  # ... when no 'limit' is asked for
FACE_SHAPE = "{\"album\": ..., \"photo\": ..., \"face\": <number>} as listed by GET /album/people"


@bp.get("/album/people")
def people():
    """The album's faces grouped into people, largest group first; faces that fit no group are counted.
    ?hidden=1 lists the hidden people instead (to show them again)."""
    hidden = request.args.get("hidden", "0")
    if hidden not in ("0", "1", "true", "false"):
        raise ApiError(400, "'hidden' is 1 (list the hidden people) or 0 (the shown ones, the default)")
    albums = parts().photo_albums
    grouped, unassigned = albums.people(hidden=hidden in ("1", "true"))
    return jsonify({"people": [albums.describe(person) for person in grouped], "unassigned": unassigned,
                    "state": albums.open().progress.state})


@bp.get("/album/people/suggestions")
def suggestions():
    """Faces in no person, each with the (shown) people it most resembles, surest first: ?limit=N of them."""
    raw = request.args.get("limit", "")
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_SUGGESTIONS):
        raise ApiError(400, f"'limit' must be a whole number from 1 to {MAX_SUGGESTIONS}")
    albums = parts().photo_albums
    found = albums.suggestions(int(raw) if raw else SUGGESTIONS)
    return jsonify({"suggestions": [albums.describe_suggestion(s) for s in found],
                    "state": albums.open().progress.state})


@bp.patch("/album/people/<person_id>")
@requires_key
def label(person_id: str):
    """{"name": ...} names the person (null: no name); {"identity": hash} links it to an enrolled
    identity (null: unlinks it); {"hidden": true} hides it (false: shows it again). Any of them."""
    body = inputs.json_object()
    if not {"name", "identity", "hidden"} & body.keys():
        raise ApiError(400, "send {\"name\": ...}, {\"identity\": \"<hash>\"} (null clears either) and/or "
                            "{\"hidden\": true|false}")
    changes: dict[str, Any] = {}
    if "hidden" in body:
        if not isinstance(body["hidden"], bool):
            raise ApiError(400, "'hidden' must be true or false")
        changes["hidden"] = body["hidden"]
    if "name" in body:
        changes["name"] = inputs.clean_name(body["name"])
    if "identity" in body:
        identity = body["identity"]
        if identity is not None:
            if not isinstance(identity, str):
                raise ApiError(400, "'identity' must be an identity hash or null")
            inputs.identity_or_404(identity)
        changes["identity"] = identity
    return _answer(parts().photo_albums.label(person_id, **changes))


@bp.post("/album/people/<person_id>/merge")
@requires_key
def merge(person_id: str):
    """{"into": other_id}: this person is the other one; the other keeps its id and name."""
    into = inputs.json_object().get("into")
    if not isinstance(into, str) or not into:
        raise ApiError(400, "send {\"into\": \"<id of the person this one is>\"}")
    return _answer(parts().photo_albums.merge(person_id, into))


@bp.post("/album/people/<person_id>/take-out")
@requires_key
def take_out(person_id: str):
    """{"album", "photo", "face"}: that face is not this person; it leaves the group for good."""
    body = inputs.json_object()
    album, photo, number = body.get("album"), body.get("photo"), body.get("face")
    if not isinstance(album, str) or not isinstance(photo, str) or type(number) is not int:
        raise ApiError(400, "send the face as {\"album\": ..., \"photo\": ..., \"face\": <number>} as listed "
                            "by GET /album/people")
    return _answer(parts().photo_albums.take_out(person_id, FaceRef(album, photo, number)))


@bp.post("/album/people/<person_id>/split")
@requires_key
def split(person_id: str):
    """{"faces": [face, ...]}: these faces of the person are someone else, a new person (201); the rest
    stay. At least one face goes, at least one stays."""
    faces = inputs.json_object().get("faces")
    if not isinstance(faces, list) or not faces:
        raise ApiError(400, f"send {{\"faces\": [...]}}, a list of 1 to {MAX_SPLIT_FACES} of the person's faces, "
                            f"each {FACE_SHAPE}")
    if len(faces) > MAX_SPLIT_FACES:
        raise ApiError(400, f"a split names at most {MAX_SPLIT_FACES} faces (this one {len(faces)})")
    chosen = list(dict.fromkeys(_face_ref(item, f"faces[{n}]") for n, item in enumerate(faces)))
    albums = parts().photo_albums
    return jsonify(albums.describe(albums.split(person_id, chosen))), 201


@bp.post("/album/people/<person_id>/faces")
@requires_key
def add_face(person_id: str):
    """{"album", "photo", "face"}: that face is this person (a suggestion confirmed); it stays so."""
    return _answer(parts().photo_albums.assign(person_id, _face_ref(inputs.json_object(), "the body")))


@bp.post("/album/people/<person_id>/not")
@requires_key
def reject_face(person_id: str):
    """{"album", "photo", "face"}: that face (in no person) is not this person: not suggested as it again."""
    return _answer(parts().photo_albums.reject(person_id, _face_ref(inputs.json_object(), "the body")))


@bp.delete("/album/people/<person_id>")
@requires_key
def forget(person_id: str):
    """Forget what was said about this person (name, link, corrections); its faces go back to the
    automatic grouping. The photos are not touched."""
    parts().photo_albums.forget(person_id)
    return jsonify({"forgotten": person_id})


def _face_ref(item: object, where: str) -> FaceRef:
    if not isinstance(item, dict):
        raise ApiError(400, f"{where} must be a face, {FACE_SHAPE}")
    album, photo, number = item.get("album"), item.get("photo"), item.get("face")
    if not isinstance(album, str) or not isinstance(photo, str) or type(number) is not int or number < 0:
        raise ApiError(400, f"{where} must be a face, {FACE_SHAPE}")
    return FaceRef(album, photo, number)


def _answer(person: Person):
    """The person after a change (empty when its faces all moved), as GET /album/people shows it."""
    return jsonify(parts().photo_albums.describe(person))
