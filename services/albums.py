"""Albums: search them by face (a photo's, or an enrolled person's), and their people with the corrections
people make (name, link to an identity, merge, take a face out, forget)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from recognition.album.people import FaceRef, Person
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
    def __init__(self, person_id: str) -> None:
        super().__init__(f"no person {person_id!r} in the albums (ids change until a person is named or "
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

    def search_by_photo(self, image: np.ndarray, face: int, threshold: float) -> SearchAnswer:
        """Photos with the person whose face is number face of image (0: the largest), best first."""
        library = self.open()
        faces = sorted(self.analyzer.analyze(image), key=lambda f: f.box.area, reverse=True)
        if not faces:
            raise AlbumQueryError(422, "no face was found in the image")
        if face >= len(faces):
            raise AlbumQueryError(400, f"'face' is {face}, but the image has {len(faces)} face(s) (0 is the largest)")
        embedding = faces[face].embedding
        if embedding is None:  # analyze() embeds every face it returns
            raise RuntimeError("a face of the query photo has no embedding")
        return SearchAnswer(len(faces), threshold, library.search(embedding[None, :], threshold))

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

    def label(self, person: Person, **changes) -> None:
        """name= names the person (None: no name); identity= links it to an enrolled identity (None: unlinks)."""
        self.open().corrections.label(person, **changes)

    def merge(self, source: Person, target: Person) -> None:
        self.open().corrections.merge(source, target)

    def take_out(self, person: Person, face: FaceRef) -> None:
        self.open().corrections.take_out(person, face)

    def forget(self, person: Person) -> None:
        """Forget what was said about this person; its faces go back to the automatic grouping."""
        self.open().corrections.forget(person)

    def describe(self, person: Person) -> dict:
        """A person as the API shows it: named by its own name, or else by the identity it is linked to."""
        library = self.open()
        identity = self.store.get(person.identity) if person.identity else None
        return {"id": person.id, "size": len(person.faces),
                "name": person.name or (identity.name if identity else None),
                "identity": identity.hash if identity else None,
                "faces": [{"album": f.album, "photo": f.photo, "face": f.face, "box": library.box_of(f)}
                          for f in person.faces]}
