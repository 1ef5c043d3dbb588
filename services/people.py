"""People: enroll, add photos, rename, say "not this person", import a zip, and erase everywhere.

Every change is shown at once in what the camera sees (LiveView.refresh), so nobody waits for the next
analysed frame to see a new name or a deleted person go."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

import numpy as np

from recognition.album.corrections import forget_identity as forget_album_link
from recognition.images import MAX_PIXELS
from recognition.pipeline.analyzer import FaceAnalyzer
from recognition.pipeline.more_photos import CheckedFace, PhotoRefused, check_photo
from recognition.pipeline.people_import import ImportReport, Photo, import_people
from recognition.store.identity import Identity
from recognition.store.interface import Enrolled, FaceStore
from services.cameras import Cameras

if TYPE_CHECKING:
    from recognition.album.library import AlbumLibrary
    from recognition.matching.trained import ClassifierFile

log = logging.getLogger(__name__)


class NoSuchPerson(KeyError):
    """No identity has this hash (or it was deleted while the request was being handled)."""

    def __init__(self, identity_hash: str) -> None:
        super().__init__(identity_hash)
        self.identity_hash = identity_hash

    def __str__(self) -> str:
        return f"no identity {self.identity_hash}"


class PhotoNotAdded(Exception):
    """One photo of several was refused, so none was added: which one (its index) and why (refused)."""

    def __init__(self, index: int, refused: PhotoRefused) -> None:
        super().__init__(str(refused))
        self.index = index
        self.refused = refused


@dataclass(frozen=True)
class People:
    """The enrolled people and every place that holds something of them: the store, the classifier (it
    may hold their vectors), the albums' links, and what the cameras show. classifier is None for a
    store that keeps no data dir."""

    store: FaceStore
    analyzer: FaceAnalyzer
    cameras: Cameras  # what they show is brought up to date with each change
    albums: Optional["AlbumLibrary"] = None
    classifier: Optional["ClassifierFile"] = None

    def enroll(self, embedding: np.ndarray, name: Optional[str], *, email_hash: Optional[str] = None,
               attributes: Optional[str] = None) -> Identity:
        """A new identity for this face; AlreadyEnrolled when it is someone's already."""
        identity = self.analyzer.matcher.enroll(embedding, name, email_hash=email_hash, attributes=attributes)
        self.cameras.refresh(created=[identity])
        return identity

    def enroll_vectors(self, vectors: np.ndarray, names: Sequence[Optional[str]]) -> list[Enrolled]:
        """People from vectors made elsewhere with the same model, by the rules of photo enrollment."""
        outcomes = self.analyzer.matcher.enroll_many(vectors, names)
        created = [outcome.created for outcome in outcomes if outcome.created]
        if created:
            self.cameras.refresh(created=created)
        return outcomes

    def rename(self, identity_hash: str, name: Optional[str]) -> Identity:
        try:
            identity = self.store.rename(identity_hash, name)
        except KeyError:
            raise NoSuchPerson(identity_hash)
        self.cameras.refresh(changed=[identity_hash])
        return identity

    def add_photos(self, identity: Identity, images: Iterable[np.ndarray]) -> tuple[Identity, list[CheckedFace]]:
        """More photos of this person: each face is checked (quality, and that it is this person rather
        than someone else) and only then are all their vectors added at once. PhotoNotAdded names the
        first refused photo, and then none is added. images may be a generator: each photo is then
        decoded as it is checked, so a request holds one decoded photo at a time, not all of them."""
        checked: list[CheckedFace] = []
        for index, image in enumerate(images):
            try:
                checked.append(check_photo(self.analyzer, identity, image))
            except PhotoRefused as refused:
                raise PhotoNotAdded(index, refused)
            # Later photos are checked against this one too (the same photo twice adds once).
            identity = replace(identity, embeddings=identity.embeddings + (checked[-1].vector,))
        try:
            updated = self.store.add_vectors(identity.hash, np.stack([face.vector for face in checked]))
        except KeyError:  # deleted while the photos were being analysed
            raise NoSuchPerson(identity.hash)
        self.cameras.refresh(changed=[identity.hash])
        return updated, checked

    def import_people(self, people: list[tuple[str, list[Photo]]]) -> ImportReport:
        """Each person enrolled from the photo most like their others, or given the photos when already
        enrolled under that name; every photo checked as add_photos checks it."""
        report = import_people(people, self.analyzer, max_pixels=MAX_PIXELS)  # a request's bound, not an album's
        updated = set(report.updated)
        self.cameras.refresh(changed=[s["hash"] for s in self.store.summaries() if s["name"] in updated])
        return report

    def reject(self, identity_hash: str, embedding: np.ndarray) -> Identity:
        """Record a face as "not this person", so it stops matching them."""
        try:
            identity = self.analyzer.matcher.reject(identity_hash, embedding)
        except KeyError:
            raise NoSuchPerson(identity_hash)
        self.cameras.refresh(changed=[identity_hash])
        return identity

    def erase(self, identity_hash: str) -> Identity:
        """Delete a person for good: their identity, vectors and email binding are gone from disk when this
        returns, and nothing else (classifier, album links, what the camera shows) still holds them."""
        try:
            removed = self.store.remove(identity_hash)  # returns once no file holds its vectors
        except KeyError:
            raise NoSuchPerson(identity_hash)
        log.info("deleted identity %s", identity_hash[:12])
        if self.classifier is not None:
            self.classifier.forget()  # it may hold their vectors: train again without them
        # No album person stays linked to it, whether or not this server runs with its albums now.
        if self.albums is not None:
            self.albums.corrections.forget_identity(identity_hash)
        elif self.store.data_dir is not None:
            forget_album_link(self.store.data_dir, self.store.key, identity_hash)
        self.cameras.refresh(changed=[identity_hash])
        return removed
