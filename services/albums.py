"""Albums: search them by face (a photo's, or an enrolled person's), and their people with the corrections
people make (name, link to an identity, merge, take a face out, forget)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from recognition.album.people import FaceRef, Person
from recognition.album.search import MAX_MATCHES
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.store.identity import Identity
from recognition.store.interface import FaceStore

if TYPE_CHECKING:
    from recognition.album.library import AlbumLibrary
    from recognition.album.search import AlbumMatch


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
                                                                  MAX_MATCHES if limit is None else limit))

    def search_by_identity(self, identity: Identity, threshold: float) -> SearchAnswer:
        library = self.open()
        if identity.model != self.analyzer.model_name:
            raise AlbumQueryError(409, f"{identity.hash} was enrolled with {identity.model}; the albums are indexed "
                                       f"with {self.analyzer.model_name}")
        return SearchAnswer(len(identity.embeddings), threshold, library.search(np.stack(identity.embeddings),
                                                                                threshold))

    # The albums' people.

    def people(self) -> tuple[list[Person], int]:
        """The faces grouped into people, largest group first, and how many faces fit no group."""
        return self.open().people(self.threshold)

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
        unlinks). The person after the change."""
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

    def forget(self, person_id: str) -> None:
        """Forget what was said about this person; its faces go back to the automatic grouping."""
        self.open().corrections.forget(self.person(person_id))

    def describe(self, person: Person) -> dict:
        """A person as the API shows it: named by its own name, or else by the identity it is linked to."""
        library = self.open()
        identity = self.store.get(person.identity) if person.identity else None
        return {"id": person.id, "size": len(person.faces),
                "name": person.name or (identity.name if identity else None),
                "identity": identity.hash if identity else None,
                "faces": [library.face_json(f) for f in person.faces]}
