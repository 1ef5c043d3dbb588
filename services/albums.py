"""Albums: search them by face (a photo's, or an enrolled person's), and their people with the corrections
people make (name, link to an identity, hide, merge, split, take a face out, confirm a suggested face,
forget). A hidden person's faces are left out of searches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from recognition.album.people import FaceRef, Person
from recognition.album.search import MAX_MATCHES
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.identity import Identity
from recognition.store.interface import FaceStore

if TYPE_CHECKING:
    from recognition.album.library import AlbumLibrary
    from recognition.album.search import AlbumMatch
    from recognition.album.suggestions import Suggestion


class NoAlbums(LookupError):
    def __str__(self) -> str:
        return "no album is configured: start the server with --album DIR (FACE_ALBUM)"


class AlbumQueryError(ValueError):
    """The query cannot be answered as asked (no face, no such face, another model); status: 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NoSuchAlbumPerson(LookupError):
    """No such person in the albums (or no such face in that person): 404."""

    def __init__(self, person_id: str, message: Optional[str] = None) -> None:
        super().__init__(message or f"no person {person_id!r} in the albums (ids change until a person is named or "
                                    "corrected: list them again with GET /album/people)")


@dataclass(frozen=True)
class SearchAnswer:
    query_faces: int
    threshold: float
    matches: list["AlbumMatch"]


@dataclass(frozen=True)
class Albums:
    """library is None when the server runs without --album: every use case then raises NoAlbums."""

    library: Optional["AlbumLibrary"]
    analyzer: FaceAnalyzer
    store: FaceStore

    @property
    def threshold(self) -> float:
        """The bar album faces are grouped and matched at: the live matcher's, so the albums and the
        camera agree on who is who."""
        return self.analyzer.matcher.threshold

    def open(self) -> "AlbumLibrary":
        if self.library is None:
            raise NoAlbums()
        return self.library

    def search_by_photo(self, image: np.ndarray, face: int, threshold: float,
                        limit: Optional[int] = None) -> SearchAnswer:
        """Photos with the person whose face is number face of image (0: the largest), best first; the
        best limit of them (None: as many as a search answers, MAX_MATCHES)."""
        library = self.open()
        faces = sorted(self.analyzer.analyze(image), key=lambda f: f.box.area, reverse=True)
        if not faces:
            raise AlbumQueryError(422, "no face was found in the image")
        if face >= len(faces):
            raise AlbumQueryError(400, f"'face' is {face}, but the image has {len(faces)} face(s) (0 is the largest)")
        embedding = faces[face].embedding
        if embedding is None:  # analyze() embeds every face it returns
            raise RuntimeError("a face of the query photo has no embedding")
        return SearchAnswer(len(faces), threshold, library.search(embedding[None, :], threshold,
                                                                  MAX_MATCHES if limit is None else limit,
                                                                  leave_out=self._hidden_faces()))

    def search_by_identity(self, identity: Identity, threshold: float) -> SearchAnswer:
        library = self.open()
        if identity.model != self.analyzer.model_name:
            raise AlbumQueryError(409, f"{identity.hash} was enrolled with {identity.model}; the albums are indexed "
                                       f"with {self.analyzer.model_name}")
        return SearchAnswer(len(identity.embeddings), threshold, library.search(
            np.stack(identity.embeddings), threshold, leave_out=self._hidden_faces()))

    def _hidden_faces(self) -> set[FaceRef]:
        """The faces of hidden people: a search does not find a photo by them. Nobody hidden (most albums):
        none, without grouping the album's faces for every search."""
        library = self.open()
        if not library.corrections.anyone_hidden():
            return set()
        everyone, _ = library.people(self.threshold)
        return {face for person in everyone if person.hidden for face in person.faces}

    # The albums' people.

    def people(self, hidden: bool = False) -> tuple[list[Person], int]:
        """The faces grouped into people, largest group first (the shown ones; with hidden, the hidden
        ones instead), and how many faces fit no group."""
        everyone, unassigned = self.open().people(self.threshold)
        return [person for person in everyone if person.hidden == hidden], unassigned

    def person(self, person_id: str) -> Person:
        found = self.open().person(person_id, self.threshold)
        if found is None:
            raise NoSuchAlbumPerson(person_id)
        return found

    def person_after_change(self, person_id: str) -> Person:
        """The person after a change; when nothing is left of it (its faces all moved), an empty one."""
        return self.open().person(person_id, self.threshold) or Person(person_id, ())

    def label(self, person_id: str, **changes) -> Person:
        """name= names the person (None: no name); identity= links it to an enrolled identity (None:
        unlinks); hidden= hides it or shows it again. The person after the change."""
        self.open().corrections.label(self.person(person_id), **changes)
        return self.person_after_change(person_id)

    def merge(self, person_id: str, into: str) -> Person:
        """This person is the one named by into, which keeps its id and name: that one after the merge."""
        if into == person_id:
            raise AlbumQueryError(400, "a person cannot be merged into itself")
        source, target = self.person(person_id), self.person(into)
        self.open().corrections.merge(source, target)
        return self.person_after_change(into)

    def take_out(self, person_id: str, face: FaceRef) -> Person:
        """This face is not the person: it leaves the group for good. The person after."""
        person = self.person(person_id)
        if face not in person.faces:
            raise NoSuchAlbumPerson(person_id, f"face {face.face} of {face.album}/{face.photo} is not in person "
                                               f"{person_id}")
        self.open().corrections.take_out(person, face)
        return self.person_after_change(person_id)

    def split(self, person_id: str, faces: Sequence[FaceRef]) -> Person:
        """These faces of the person are someone else: the new person they make (the rest stay)."""
        person = self.person(person_id)
        strangers = [face for face in faces if face not in person.faces]
        if strangers:
            face = strangers[0]
            raise AlbumQueryError(400, f"face {face.face} of {face.album}/{face.photo} is not in person {person_id} "
                                       f"({len(strangers)} of the faces sent are not): list the people again")
        if set(faces) == set(person.faces):
            raise AlbumQueryError(400, "a split leaves at least one face in the person: choose fewer faces (to name "
                                       "the whole person, PATCH it)")
        library = self.open()
        everyone, _ = library.people(self.threshold)
        new_id = library.corrections.split(person, faces, {p.id for p in everyone})
        return self.person_after_change(new_id)

    def assign(self, person_id: str, face: FaceRef) -> Person:
        """This face is the person (a suggestion confirmed, or a face moved here). The person after."""
        self.open().corrections.assign(self.person(person_id), face)
        return self.person_after_change(person_id)

    def reject(self, person_id: str, face: FaceRef) -> Person:
        """This face, in no person, is not this one: never suggested as it again. The person."""
        person = self.person(person_id)
        if face in person.faces:
            raise AlbumQueryError(400, "that face is in this person: take it out instead (POST .../take-out)")
        self.open().corrections.reject(person, face)
        return self.person_after_change(person_id)

    def suggestions(self, limit: int) -> list["Suggestion"]:
        """Faces in no person, with the shown people each most resembles, surest first."""
        return self.open().suggestions(self.threshold, limit)

    def forget(self, person_id: str) -> None:
        """Forget what was said about this person; its faces go back to the automatic grouping."""
        self.open().corrections.forget(self.person(person_id))

    def describe(self, person: Person) -> dict:
        """A person as the API shows it: named by its own name, or else by the identity it is linked to."""
        identity = self.store.get(person.identity) if person.identity else None
        return {"id": person.id, "size": len(person.faces),
                "name": person.name or (identity.name if identity else None),
                "identity": identity.hash if identity else None, "hidden": person.hidden,
                "faces": [self._face(face) for face in person.faces]}

    def describe_suggestion(self, suggestion: "Suggestion") -> dict:
        return {"face": self._face(suggestion.face),
                "candidates": [{"id": c.person.id, "name": self._name(c.person), "similarity": round(c.similarity, 4)}
                               for c in suggestion.candidates]}

    def _name(self, person: Person) -> Optional[str]:
        identity = self.store.get(person.identity) if person.identity and not person.name else None
        return person.name or (identity.name if identity else None)

    def _face(self, face: FaceRef) -> dict:
        return self.open().face_json(face)
