"""The albums' people over HTTP: the grouping with its corrections, and the corrections themselves
(name a person, link it to an enrolled identity, merge two, take a face out). Changes need the API key
when one is configured, like every other change."""
from __future__ import annotations

from flask import Blueprint, jsonify

from recognition.album.people import FaceRef, Person
from webapp.current import parts
from webapp.http import inputs
from webapp.http.auth import requires_key
from webapp.http.errors import ApiError

bp = Blueprint("album_people", __name__)


@bp.get("/album/people")
def people():
    """The album's faces grouped into people, largest group first; faces that fit no group are counted."""
    albums = parts().photo_albums
    grouped, unassigned = albums.people()
    return jsonify({"people": [albums.describe(person) for person in grouped], "unassigned": unassigned,
                    "state": albums.open().progress.state})


@bp.patch("/album/people/<person_id>")
@requires_key
def label(person_id: str):
    """{"name": ...} names the person (null: no name); {"identity": hash} links it to an enrolled
    identity (null: unlinks it). Either or both."""
    body = inputs.json_object()
    if not {"name", "identity"} & body.keys():
        raise ApiError(400, "send {\"name\": ...} and/or {\"identity\": \"<hash>\"} (null clears either)")
    changes = {}
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


@bp.delete("/album/people/<person_id>")
@requires_key
def forget(person_id: str):
    """Forget what was said about this person (name, link, corrections); its faces go back to the
    automatic grouping. The photos are not touched."""
    parts().photo_albums.forget(person_id)
    return jsonify({"forgotten": person_id})


def _answer(person: Person):
    """The person after a change (empty when its faces all moved), as GET /album/people shows it."""
    return jsonify(parts().photo_albums.describe(person))
