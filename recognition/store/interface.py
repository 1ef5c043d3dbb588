"""The seam every store backend implements, and the plain types that cross it.

The pickle store (pickle_store.py) is the embedded default; a database backend implements the same
Protocol and passes the same contract tests (tests/test_store_contract.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Sequence

import numpy as np

from recognition.store.gallery import Gallery
from recognition.store.identity import Identity

if TYPE_CHECKING:
    from recognition.store.vault import StoreKey


class StoreError(Exception):
    """Base of every store failure the server reports as such."""


class StoreRejected(StoreError):
    """The data is not a store we wrote, or was altered; it was not loaded (and nothing in it ran)."""


class StoreWriteFailed(StoreError):
    """A change could not be made durable (disk full, I/O error); nothing of it was kept or acknowledged."""


class StoreUnavailable(StoreWriteFailed):
    """The database cannot be reached: changes are refused until it is back (reads go on from memory)."""


class EmailTaken(StoreError):
    """Another identity is already bound to this email hash."""


@dataclass(frozen=True)
class Candidate:
    """A face to enroll: its identity hash (made by the matcher), unit embedding and labels."""

    hash: str
    embedding: np.ndarray
    name: Optional[str] = None
    email_hash: Optional[str] = None
    attributes: Optional[str] = None  # JSON: age, gender and emotion at registration


@dataclass(frozen=True)
class Match:
    """Whom a face matched, and how closely (cosine similarity of unit embeddings)."""

    identity_hash: str
    name: Optional[str]
    similarity: float


@dataclass(frozen=True)
class Enrolled:
    """One candidate's outcome: exactly one of created and existing is set."""

    created: Optional[Identity] = None
    existing: Optional[Match] = None


# Given a snapshot and (n, d) unit queries, who each query already is (None: nobody). It is the
# matcher's rule (threshold, "not this person"), run by the store inside its atomic enroll.
FindExisting = Callable[[Gallery, np.ndarray], Sequence[Optional[Match]]]


class FaceStore(Protocol):
    """Identities: vectors and labels, never images. Reads never wait for writers; every write
    returns only once it is durable, and is then what every reader sees."""

    secret: bytes  # the installation secret that salts identity and email hashes
    # The store key (outside the data dir): seals the store's records and side files, and is the root of
    # the key that signs sessions and challenges (webapp.parts.signing_secret).
    key: "StoreKey"
    # Where this server keeps its side files (the classifier, album indexes, links), sealed with key: the
    # data dir for the file store, this server's own folder for a database. None for a store with no
    # folder (one in memory only): then the features that keep files are off.
    data_dir: Optional[Path]
    location: str  # where the identities are, for messages and logs (a folder, or a URL without password)

    def gallery(self, model: str) -> Gallery:
        """An immutable snapshot of model's identities for matching; never blocks."""

    def get(self, identity_hash: str) -> Optional[Identity]: ...

    def identities(self) -> list[Identity]:
        """Every identity, oldest first, with its vectors."""

    def summaries(self) -> list[dict]:
        """Every identity's public view (no vectors, no email hash), oldest first."""

    def find_by_email_hash(self, email_hash: str) -> Optional[Identity]: ...

    def email_hash(self, email: str) -> str:
        """Keyed hash of a normalized email: comparable within this installation, useless outside it."""

    def __len__(self) -> int: ...

    def enroll(self, model: str, candidates: Sequence[Candidate], find_existing: FindExisting) -> list[Enrolled]:
        """Atomically, for each candidate in order: if find_existing names someone (already stored,
        or enrolled earlier in this same call), report them; otherwise create an identity. EmailTaken
        (and nothing stored) if a candidate's email hash is bound already."""

    def add_many(self, identities: Sequence[Identity]) -> None:
        """Store identities as they are (an import); ValueError if a hash or email hash exists."""

    def rename(self, identity_hash: str, name: Optional[str]) -> Identity:
        """KeyError if absent."""

    def add_vectors(self, identity_hash: str, embeddings: np.ndarray) -> Identity:
        """Add vectors (rows, unit length) of more photos of this person; KeyError if absent."""

    def add_rejection(self, identity_hash: str, embedding: np.ndarray) -> Identity:
        """Record a face that is "not this person"; KeyError if absent."""

    def remove(self, identity_hash: str) -> Identity:
        """Delete an identity; once this returns, no file of the store holds its vectors. KeyError if absent."""

    def spend(self, tag: bytes, until: float, *, forgettable: bool = False) -> bool:
        """Record a one-time tag (a challenge's nonce, a burst's digest, a revoked session id) until the
        unix time until, durably and for every server of the installation, before returning; False when
        it was spent already and has not expired (nothing is changed then). Kept as a keyed hash. A store
        that bounds its ledger forgets forgettable tags (bursts) before any other (a revoked session)."""

    def is_spent(self, tag: bytes) -> bool:
        """Whether the tag was spent and has not expired yet."""

    def close(self) -> None: ...
