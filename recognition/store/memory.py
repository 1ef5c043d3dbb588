"""What an open store holds in memory: every identity's labels, its vectors in gallery tables, the email
bindings, and which segment file each identity lives in. Changed by the store's writer only."""
from __future__ import annotations

import json
from itertools import repeat
from typing import NamedTuple, Optional, Sequence

import numpy as np

from recognition.store.gallery import Gallery, GalleryTable, Member
from recognition.store.identity import Identity
from recognition.store.interface import Candidate, EmailTaken, Enrolled, FindExisting, StoreRejected
from recognition.store.records import Group, checked_group, group_by_model

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
    attributes: Optional[str] = None  # JSON of age, gender and emotion at registration

    def summary(self) -> dict:
        return {"hash": self.hash, "name": self.name, "model": self.model, "created": self.created,
                "vectors": self.vectors, "registered": self.email_hash is not None,
                "attributes": json.loads(self.attributes) if self.attributes else None}


class Metas:
    """identity hash -> Meta, held as plain tuples. CPython's collector stops tracking a plain tuple of
    strings and numbers, so a million of them add nothing to a full collection; as Meta objects they
    would make each one a 250 ms pause of every thread, recognition included."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple] = {}

    def __getitem__(self, identity_hash: str) -> Meta:
        return Meta._make(self._rows[identity_hash])

    def __setitem__(self, identity_hash: str, meta: Meta) -> None:
        self._rows[identity_hash] = tuple(meta)

    def __contains__(self, identity_hash) -> bool:
        return identity_hash in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, identity_hash: str) -> Optional[Meta]:
        row = self._rows.get(identity_hash)
        return None if row is None else Meta._make(row)

    def pop(self, identity_hash: str) -> Meta:
        return Meta._make(self._rows.pop(identity_hash))

    def keys(self):
        return self._rows.keys()

    def values(self):
        return map(Meta._make, list(self._rows.values()))

    def update_rows(self, pairs) -> None:
        """(hash, plain tuple in Meta's field order) pairs, straight in."""
        self._rows.update(pairs)


class StoreIndex:
    def __init__(self) -> None:
        self.meta = Metas()
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
                        rejections=tuple(table.rejections_of(meta.slot)), attributes=meta.attributes)

    def residents(self, segment: int) -> list[str]:
        """The identities of a segment, in the order they were added."""
        return sorted(self.segments.get(segment, ()), key=lambda h: self.meta[h].slot)

    def groups(self, segment: int, changes: dict[str, Optional[Identity]]) -> list[Group]:
        """A segment's identities by column, straight from memory, with changes applied (None: removed)."""
        by_model: dict[str, list[Meta]] = {}
        changed: list[Identity] = []
        for identity_hash in self.residents(segment):
            if identity_hash in changes:
                identity = changes[identity_hash]
                if identity is not None:
                    changed.append(identity)
            else:
                meta = self.meta[identity_hash]
                by_model.setdefault(meta.model, []).append(meta)
        groups = []
        for model, metas in by_model.items():
            counts, vectors, rejection_counts, rejections = self._tables[model].gather([m.slot for m in metas])
            groups.append(Group(model=model, hashes=[m.hash for m in metas], names=[m.name for m in metas],
                                created=np.array([m.created for m in metas], dtype=np.float64),
                                emails=[m.email_hash for m in metas], vector_counts=counts, vectors=vectors,
                                rejection_counts=rejection_counts, rejections=rejections,
                                attributes=[m.attributes for m in metas]))
        return groups + group_by_model(changed)

    def remember(self, identities: Sequence[Identity], segment: int) -> None:
        """Add identities (already durable in segment) and publish their galleries."""
        for identity in identities:
            table = self._table(identity.model, identity.embeddings[0].shape[0])
            slot = table.add(Member(identity.hash, identity.name), np.vstack(identity.embeddings),
                             np.vstack(identity.rejections) if identity.rejections else None)
            self._add(Meta(identity.hash, identity.model, identity.name, identity.created, identity.email_hash,
                           len(identity.embeddings), len(identity.rejections), segment, slot, identity.attributes))
        self.segments.setdefault(segment, set())
        self.publish({i.model for i in identities})

    def plan_enrollment(self, model: str, candidates: Sequence[Candidate],
                        find_existing: FindExisting) -> tuple[list[Enrolled], list[Identity]]:
        """Each candidate's outcome, and the identities to create: a candidate someone already is (stored,
        or created earlier in this batch) is reported, not created. The writer makes them durable, then
        remember()s them."""
        queries = np.vstack([c.embedding for c in candidates]).astype(np.float32)
        gallery = self.gallery(model)
        known = list(find_existing(gallery, queries)) if not gallery.empty else [None] * len(candidates)
        batch = GalleryTable(queries.shape[1])  # this call's new people: a batch holds no duplicates
        outcomes: list[Enrolled] = []
        created: list[Identity] = []
        hashes: set[str] = set()
        emails: set[str] = set()
        for index, candidate in enumerate(candidates):
            existing = known[index]
            if existing is None and created:
                existing = find_existing(batch.snapshot, queries[index : index + 1])[0]
            if existing is not None:
                outcomes.append(Enrolled(existing=existing))
                continue
            self.check_new(candidate.hash, candidate.email_hash, hashes, emails)
            identity = Identity(hash=candidate.hash, model=model, name=candidate.name, embeddings=(queries[index],),
                                email_hash=candidate.email_hash, attributes=candidate.attributes)
            created.append(identity)
            batch.add(Member(identity.hash, identity.name), queries[index : index + 1])
            batch.publish()
            outcomes.append(Enrolled(created=identity))
        return outcomes, created

    def sync_segment(self, segment: int, groups: Sequence[Group]) -> None:
        """Make a segment's identities what groups hold (another server changed it): the new ones added,
        the changed ones brought up to date, the ones no longer there forgotten."""
        incoming = {identity.hash: identity for group in groups for identity in group.identities()}
        for identity_hash in self.residents(segment):
            if identity_hash not in incoming:
                self.forget(identity_hash)
        fresh = [identity for identity in incoming.values() if identity.hash not in self.meta]
        for identity in incoming.values():
            if identity.hash in self.meta:
                self.update(identity)
        if fresh:
            self.remember(fresh, segment)

    def update(self, identity: Identity) -> None:
        """Bring a stored identity up to date with a newer copy of it. A person's vectors and rejections
        only ever grow, and the hash, model, email and attributes never change."""
        meta = self.meta[identity.hash]
        if identity.name != meta.name:
            self.rename(identity.hash, identity.name)
        if len(identity.embeddings) > meta.vectors:
            self.add_vectors(identity.hash, np.vstack(identity.embeddings[meta.vectors :]))
        for vector in identity.rejections[meta.rejections :]:
            self.add_rejection(identity.hash, vector)

    def rename(self, identity_hash: str, name) -> None:
        meta = self.meta[identity_hash]
        self._tables[meta.model].rename(meta.slot, name)
        self.meta[identity_hash] = meta._replace(name=name)

    def add_vectors(self, identity_hash: str, vectors: np.ndarray) -> None:
        meta = self.meta[identity_hash]
        self._tables[meta.model].add_vectors(meta.slot, vectors)
        self.meta[identity_hash] = meta._replace(vectors=meta.vectors + len(vectors))
        self._tables[meta.model].publish()

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
                   range(first, first + count), group.attributes)
        self.meta.update_rows(zip(group.hashes, rows))  # all in C: a million in well under a second
        self.segments.setdefault(segment, set()).update(group.hashes)
        self.emails.update((e, h) for e, h in zip(group.emails, group.hashes) if e is not None)

    def check_loadable(self, identities: Sequence[Identity]) -> None:
        """Run the checks opening the store will run, before anything is written: a record the next
        start would refuse must never be made durable."""
        probe = StoreIndex()
        try:
            for group in group_by_model(identities):
                table = self.gallery(group.model)
                if not table.empty and table.vectors.shape[1] != group.vectors.shape[1]:
                    raise ValueError(f"{group.model} vectors have {table.vectors.shape[1]} values here, "
                                     f"not {group.vectors.shape[1]}")
                probe.load(checked_group(group.to_dict()), 0, "the identities given")
        except (StoreRejected, TypeError) as exc:
            raise ValueError(str(exc)) from None

    def check_new(self, identity_hash: str, email_hash: Optional[str], hashes: set, emails: set) -> None:
        """Refuse a hash or email hash that is stored already, or earlier in this same call (then note it)."""
        if identity_hash in self.meta or identity_hash in hashes:
            raise ValueError(f"identity {identity_hash} already exists")
        if email_hash and (email_hash in self.emails or email_hash in emails):
            raise EmailTaken("this email is already registered")
        hashes.add(identity_hash)
        emails.add(email_hash)

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
