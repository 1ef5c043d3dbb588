"""Accounts: sign up with a face (and an email), sign in with it later, and delete oneself.

The rules are the same for the JSON /register and /login and for the pages' /signup and /signin (which
add a liveness challenge); the rate limits and sessions around them are the web layer's."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from recognition.faces import Box
from recognition.store.identity import Identity
from recognition.store.interface import EmailTaken, Match
from services.attributes import FaceAttributes
from services.people import NoSuchPerson, People

TOO_DARK = 60  # mean grey level of the face (0-255) below which the landmarks and the model guess
TOO_SMALL = 0.14  # of the frame's width (90 px of 640): smaller faces still pass, but their landmarks are coarse


@dataclass(frozen=True)
class FramingHint:
    """How a preview frame is framed for signing in: faces found, and what to change (None: good)."""

    faces: int
    hint: Optional[str] = None
    message: str = "good: hold still"


@dataclass(frozen=True)
class Accounts:
    people: People
    attributes: FaceAttributes

    def email_key(self, email: Optional[str]) -> Optional[str]:
        """The rate limits' key for an email, the same whether or not anyone registered it."""
        return "email:" + self.people.store.email_hash(email) if email else None

    def register(self, embedding: np.ndarray, image: np.ndarray, box: Box, *, name: Optional[str],
                 email: Optional[str]) -> Identity:
        """A new identity for this face, bound to the email's keyed hash (the email itself is never kept).
        An email already bound to someone is not bound again, and nothing in the answer says so: the identity
        is made without it, so registering is no oracle of who registered which email (the owner's binding
        stays theirs, and signing in with that email still finds only them). AlreadyEnrolled when the face
        is someone's already."""
        store = self.people.store
        email_hash = store.email_hash(email) if email else None
        if email_hash and store.find_by_email_hash(email_hash) is not None:
            email_hash = None
        # With --attributes, the age, gender and emotion at registration are kept with the identity (sealed).
        attributes = self.attributes.of(image, [box])[0] if self.attributes.enabled else None
        sealed = json.dumps(attributes, separators=(",", ":")) if attributes else None
        try:  # the store checks face and email again, atomically with the write
            return self.people.enroll(embedding, name, email_hash=email_hash, attributes=sealed)
        except EmailTaken:  # bound by someone else a moment ago: the same answer as above
            return self.people.enroll(embedding, name, email_hash=None, attributes=sealed)

    def sign_in(self, embeddings: np.ndarray, email: Optional[str]) -> Optional[Match]:
        """Whom this face signs in as: with an email, only its owner (1:1); without, whoever it is (1:N).
        embeddings are views of one person's face (a burst's frames): the one most like someone decides,
        provided another view also reaches them.
        None when nobody, and nothing in that answer tells whether the email exists."""
        store, matcher = self.people.store, self.people.analyzer.matcher
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if email is None:  # each view on its own (identify() would hand one identity to one face of a photo only)
            matches = [matcher.identify(vector[None])[0] for vector in embeddings]
        else:
            identity = store.find_by_email_hash(store.email_hash(email))
            matches = [matcher.verify(identity, vector) for vector in embeddings] if identity else []
        best = max((match for match in matches if match is not None), key=lambda match: match.similarity, default=None)
        # One view of many that happens to resemble someone is not them: two views must agree (one photo: one).
        agreeing = sum(1 for match in matches
                       if match is not None and best and match.identity_hash == best.identity_hash)
        return best if best is not None and agreeing >= min(2, len(embeddings)) else None

    def whose(self, image: Optional[np.ndarray], box: Optional[Box]) -> Optional[str]:
        """The rate limits' key for the person whose face this is (a failed burst's), if anyone's."""
        if image is None or box is None:
            return None
        analyzer = self.people.analyzer
        match = analyzer.matcher.identify(analyzer.embedder.embed(analyzer.chips(image, [box])))[0]
        return "identity:" + match.identity_hash if match else None

    def framing(self, frame: np.ndarray) -> FramingHint:
        """Framing hints for a live preview: is there one face, big enough, in enough light."""
        boxes = self.people.analyzer.detector.detect(frame)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if not boxes:
            if gray.mean() < TOO_DARK:
                return FramingHint(0, "too-dark", "too dark: face a light")
            return FramingHint(0, "no-face", "no face found: face the camera")
        if len(boxes) > 1:
            return FramingHint(len(boxes), "several", "several faces: only the person signing in should be in view")
        box = boxes[0]
        if box.w < TOO_SMALL * frame.shape[1]:
            return FramingHint(1, "too-small", "the face is too small: come closer")
        if gray[box.y : box.y + box.h, box.x : box.x + box.w].mean() < TOO_DARK:
            return FramingHint(1, "too-dark", "the face is too dark: face a light")
        return FramingHint(1)

    def delete(self, identity: Identity) -> Identity:
        """Erase a signed-in person for good; deleted meanwhile by someone else is the same outcome."""
        try:
            return self.people.erase(identity.hash)
        except NoSuchPerson:
            return identity
