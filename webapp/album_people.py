"""The albums' people over HTTP: the grouping with its corrections, and the corrections themselves
(name a person, link it to an enrolled identity, merge two, take a face out). Changes need the API key
when one is configured, like every other change."""
from __future__ import annotations

from flask import Blueprint, jsonify

from recognition.album.corrections import StaleListing
from recognition.album.people import FaceRef, Person
from webapp import inputs
from webapp.album import library_or_404
from webapp.auth import requires_key
from webapp.errors import ApiError
from webapp.services import services

bp = Blueprint("album_people", __name__)


@bp.get("/album/people")
def people():
    """The album's faces grouped into people, largest group first; faces that fit no group are counted."""
    library = library_or_404()
    grouped, unassigned = library.people(_threshold())
    return jsonify({"people": [_person_json(library, person) for person in grouped], "unassigned": unassigned,
                    "state": library.progress.state})


@bp.patch("/album/people/<person_id>")
@requires_key
def label(person_id: str):
    """{"name": ...} names the person (null: no name); {"identity": hash} links it to an enrolled
    identity (null: unlinks it). Either or both."""
    library, person = _person_or_404(person_id)
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
    _change(library.corrections.label, person, **changes)
    return _answer(library, person_id)


@bp.post("/album/people/<person_id>/merge")
@requires_key
def merge(person_id: str):
    """{"into": other_id}: this person is the other one; the other keeps its id and name."""
    library, source = _person_or_404(person_id)
    into = inputs.json_object().get("into")
    if not isinstance(into, str) or not into:
        raise ApiError(400, "send {\"into\": \"<id of the person this one is>\"}")
    if into == person_id:
        raise ApiError(400, "a person cannot be merged into itself")
    _, target = _person_or_404(into)
    _change(library.corrections.merge, source, target)
    return _answer(library, into)


@bp.post("/album/people/<person_id>/take-out")
@requires_key
def take_out(person_id: str):
    """{"album", "photo", "face"}: that face is not this person; it leaves the group for good."""
    library, person = _person_or_404(person_id)
    body = inputs.json_object()
    album, photo, number = body.get("album"), body.get("photo"), body.get("face")
    if not isinstance(album, str) or not isinstance(photo, str) or type(number) is not int:
        raise ApiError(400, "send the face as {\"album\": ..., \"photo\": ..., \"face\": <number>} as listed "
                            "by GET /album/people")
    face = FaceRef(album, photo, number)
    if face not in person.faces:
        raise ApiError(404, f"face {number} of {album}/{photo} is not in person {person_id}")
    _change(library.corrections.take_out, person, face)
    return _answer(library, person_id)


@bp.delete("/album/people/<person_id>")
@requires_key
def forget(person_id: str):
    """Forget what was said about this person (name, link, corrections); its faces go back to the
    automatic grouping. The photos are not touched."""
    library, person = _person_or_404(person_id)
    library.corrections.forget(person)
    return jsonify({"forgotten": person_id})


def _change(correction, *args, **kwargs) -> None:
    try:
        correction(*args, **kwargs)
    except StaleListing as exc:
        raise ApiError(409, str(exc))


def _answer(library, person_id: str):
    """The person after a change; when nothing is left of it (its faces all moved), an empty one."""
    person = library.person(person_id, _threshold()) or Person(person_id, ())
    return jsonify(_person_json(library, person))


def _threshold() -> float:
    return services().analyzer.matcher.threshold


def _person_or_404(person_id: str):
    library = library_or_404()
    person = library.person(person_id, _threshold())
    if person is None:
        raise ApiError(404, f"no person {person_id!r} in the albums (ids change until a person is named or "
                            "corrected: list them again with GET /album/people)")
    return library, person


def _person_json(library, person: Person) -> dict:
    identity = services().store.get(person.identity) if person.identity else None
    return {"id": person.id, "size": len(person.faces), "name": person.name or (identity.name if identity else None),
            "identity": identity.hash if identity else None,
            "faces": [{"album": f.album, "photo": f.photo, "face": f.face, "box": library.box_of(f)}
                      for f in person.faces]}
