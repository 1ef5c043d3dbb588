"""What an open store holds in memory: every identity's labels, its vectors in gallery tables, the email
bindings, and which segment file each identity lives in. Changed by the store's writer only."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from recognition.store.gallery import Gallery, GalleryTable, Member
from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.records import Group

EMPTY_GALLERY = GalleryTable(0).snapshot


@dataclass(frozen=True)
class Meta:
    """What the store knows of an identity besides its vectors, and where it lives. Replaced, never
    changed, so a reader may hold one without a lock."""

    hash: str
    model: str
    name: Optional[str]
    created: float
    email_hash: Optional[str]
    vectors: int
    rejections: int
    segment: int
    slot: int  # in its model's gallery table

    def summary(self) -> dict:
        return {"hash": self.hash, "name": self.name, "model": self.model, "created": self.created,
                "vectors": self.vectors, "registered": self.email_hash is not None}


class StoreIndex:
    def __init__(self) -> None:
        self.meta: dict[str, Meta] = {}
        self.emails: dict[str, str] = {}  # email hash -> identity hash
        self.segments: dict[int, set[str]] = {}  # segment number -> identity hashes
        self._tables: dict[str, GalleryTable] = {}

    def gallery(self, model: str) -> Gallery:
        table = self._tables.get(model)
        return table.snapshot if table is not None else EMPTY_GALLERY

    def identity(self, identity_hash: str) -> Identity:
        meta = self.meta[identity_hash]
        table = self._tables[meta.model]
        return Identity(hash=meta.hash, model=meta.model, name=meta.name, created=meta.created,
                        email_hash=meta.email_hash, embeddings=tuple(table.vectors_of(meta.slot)),
                        rejections=tuple(table.rejections_of(meta.slot)))

    def residents(self, segment: int) -> list[str]:
        """The identities of a segment, in the order they were added."""
        return sorted(self.segments.get(segment, ()), key=lambda h: self.meta[h].slot)

    def remember(self, identities: Sequence[Identity], segment: int) -> None:
        """Add identities (already durable in segment) and publish their galleries."""
        for identity in identities:
            table = self._table(identity.model, identity.embeddings[0].shape[0])
            slot = table.add(Member(identity.hash, identity.name), np.vstack(identity.embeddings),
                             np.vstack(identity.rejections) if identity.rejections else None)
            self._add(Meta(identity.hash, identity.model, identity.name, identity.created, identity.email_hash,
                           len(identity.embeddings), len(identity.rejections), segment, slot))
        self.segments.setdefault(segment, set())
        self.publish({i.model for i in identities})

    def rename(self, identity_hash: str, name) -> None:
        meta = self.meta[identity_hash]
        self._tables[meta.model].rename(meta.slot, name)
        self.meta[identity_hash] = replace(meta, name=name)

    def add_rejection(self, identity_hash: str, vector: np.ndarray) -> None:
        meta = self.meta[identity_hash]
        self._tables[meta.model].add_rejection(meta.slot, vector)
        self.meta[identity_hash] = replace(meta, rejections=meta.rejections + 1)
        self._tables[meta.model].publish()

    def forget(self, identity_hash: str) -> None:
        """Drop an identity; its rows are zeroed at once, even in snapshots already handed out."""
        meta = self.meta.pop(identity_hash)
        self._tables[meta.model].remove(meta.slot)
        self.segments[meta.segment].discard(identity_hash)
        if meta.email_hash:
            self.emails.pop(meta.email_hash, None)
        self._tables[meta.model].publish()

    def load(self, group: Group, segment: int, what: str) -> None:
        """A group read from a segment, checked against what is already loaded. Publish afterwards."""
        if any(h in self.meta for h in group.hashes) or len(set(group.hashes)) != len(group.hashes):
            raise StoreRejected(f"{what}: an identity appears twice")
        emails = [e for e in group.emails if e is not None]
        if any(e in self.emails for e in emails) or len(set(emails)) != len(emails):
            raise StoreRejected(f"{what}: an email hash is bound to two identities")
        dims = group.vectors.shape[1]
        table = self._table(group.model, dims)
        if table.dims != dims:
            raise StoreRejected(f"{what}: {group.model} vectors of {dims} values beside ones of {table.dims}")
        members = [Member(h, n) for h, n in zip(group.hashes, group.names)]
        slots = table.add_bulk(members, group.vectors, group.vector_counts, group.rejections, group.rejection_counts)
        vectors, rejections, created = group.vector_counts.tolist(), group.rejection_counts.tolist(), group.created.tolist()
        for index, identity_hash in enumerate(group.hashes):
            self._add(Meta(identity_hash, group.model, group.names[index], created[index], group.emails[index],
                           vectors[index], rejections[index], segment, slots[index]))
        self.segments.setdefault(segment, set())

    def publish(self, models=None) -> None:
        for model, table in self._tables.items():
            if models is None or model in models:
                table.publish()

    def _table(self, model: str, dims: int) -> GalleryTable:
        table = self._tables.get(model)
        if table is None:
            table = self._tables[model] = GalleryTable(dims)
        return table

    def _add(self, meta: Meta) -> None:
        self.meta[meta.hash] = meta
        self.segments.setdefault(meta.segment, set()).add(meta.hash)
        if meta.email_hash:
            self.emails[meta.email_hash] = meta.hash
