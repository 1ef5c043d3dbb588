"""What an open store holds in memory: every identity's labels, its vectors in gallery tables, the email
bindings, and which segment file each identity lives in. Changed by the store's writer only."""
from __future__ import annotations

from itertools import repeat
from typing import NamedTuple, Optional, Sequence

import numpy as np

from recognition.store.gallery import Gallery, GalleryTable, Member
from recognition.store.identity import Identity
from recognition.store.interface import StoreRejected
from recognition.store.records import Group, group_by_model

EMPTY_GALLERY = GalleryTable(0).snapshot


class Meta(NamedTuple):
    """What the store knows of an identity besides its vectors, and where it lives. Replaced, never
    changed, so a reader may hold one without a lock. (A tuple: a million are made quickly.)"""

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

    def groups(self, segment: int, changes: dict[str, Optional[Identity]]) -> list[Group]:
        """A segment's identities by column, straight from memory, with changes applied (None: removed)."""
        by_model: dict[str, list[Meta]] = {}
        changed = []
        for identity_hash in self.residents(segment):
            if identity_hash in changes:
                if changes[identity_hash] is not None:
                    changed.append(changes[identity_hash])
            else:
                meta = self.meta[identity_hash]
                by_model.setdefault(meta.model, []).append(meta)
        groups = []
        for model, metas in by_model.items():
            counts, vectors, rejection_counts, rejections = self._tables[model].gather([m.slot for m in metas])
            groups.append(Group(model=model, hashes=[m.hash for m in metas], names=[m.name for m in metas],
                                created=np.array([m.created for m in metas], dtype=np.float64),
                                emails=[m.email_hash for m in metas], vector_counts=counts, vectors=vectors,
                                rejection_counts=rejection_counts, rejections=rejections))
        return groups + group_by_model(changed)

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
        self.meta[identity_hash] = meta._replace(name=name)

    def add_rejection(self, identity_hash: str, vector: np.ndarray) -> None:
        meta = self.meta[identity_hash]
        self._tables[meta.model].add_rejection(meta.slot, vector)
        self.meta[identity_hash] = meta._replace(rejections=meta.rejections + 1)
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
        hashes = set(group.hashes)
        if len(hashes) != len(group.hashes) or not self.meta.keys().isdisjoint(hashes):
            raise StoreRejected(f"{what}: an identity appears twice")
        emails = [e for e in group.emails if e is not None]
        if len(set(emails)) != len(emails) or not self.emails.keys().isdisjoint(emails):
            raise StoreRejected(f"{what}: an email hash is bound to two identities")
        dims = group.vectors.shape[1]
        table = self._table(group.model, dims)
        if table.dims != dims:
            raise StoreRejected(f"{what}: {group.model} vectors of {dims} values beside ones of {table.dims}")
        first = table.add_bulk(group.hashes, group.names, group.vectors, group.vector_counts, group.rejections,
                               group.rejection_counts)
        count = len(group.hashes)
        rows = zip(group.hashes, repeat(group.model, count), group.names, group.created.tolist(), group.emails,
                   group.vector_counts.tolist(), group.rejection_counts.tolist(), repeat(segment, count),
                   range(first, first + count))
        self.meta.update(zip(group.hashes, map(Meta._make, rows)))  # all in C: a million in well under a second
        self.segments.setdefault(segment, set()).update(group.hashes)
        self.emails.update((e, h) for e, h in zip(group.emails, group.hashes) if e is not None)

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
