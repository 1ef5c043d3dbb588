"""The albums' people over HTTP: the grouping with its corrections, and the corrections themselves
(name a person, link it to an enrolled identity, merge two, take a face out). Changes need the API key
when one is configured, like every other change."""
from __future__ import annotations

from flask import Blueprint, jsonify

from recognition.album.people import FaceRef
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
    albums = parts().photo_albums
    person = albums.person(person_id)
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
    albums.label(person, **changes)
    return jsonify(albums.describe(albums.person_after_change(person_id)))


@bp.post("/album/people/<person_id>/merge")
@requires_key
def merge(person_id: str):
    """{"into": other_id}: this person is the other one; the other keeps its id and name."""
    albums = parts().photo_albums
    source = albums.person(person_id)
    into = inputs.json_object().get("into")
    if not isinstance(into, str) or not into:
        raise ApiError(400, "send {\"into\": \"<id of the person this one is>\"}")
    if into == person_id:
        raise ApiError(400, "a person cannot be merged into itself")
    albums.merge(source, albums.person(into))
    return jsonify(albums.describe(albums.person_after_change(into)))


@bp.post("/album/people/<person_id>/take-out")
@requires_key
def take_out(person_id: str):
    """{"album", "photo", "face"}: that face is not this person; it leaves the group for good."""
    albums = parts().photo_albums
    person = albums.person(person_id)
    body = inputs.json_object()
    album, photo, number = body.get("album"), body.get("photo"), body.get("face")
    if not isinstance(album, str) or not isinstance(photo, str) or type(number) is not int:
        raise ApiError(400, "send the face as {\"album\": ..., \"photo\": ..., \"face\": <number>} as listed "
                            "by GET /album/people")
    face = FaceRef(album, photo, number)
    if face not in person.faces:
        raise ApiError(404, f"face {number} of {album}/{photo} is not in person {person_id}")
    albums.take_out(person, face)
    return jsonify(albums.describe(albums.person_after_change(person_id)))


@bp.delete("/album/people/<person_id>")
@requires_key
def forget(person_id: str):
    """Forget what was said about this person (name, link, corrections); its faces go back to the
    automatic grouping. The photos are not touched."""
    albums = parts().photo_albums
    albums.forget(albums.person(person_id))
    return jsonify({"forgotten": person_id})
