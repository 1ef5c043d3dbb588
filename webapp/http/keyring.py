"""The stored API keys as a server sees them: read from the store's keys (the data dir's sealed file,
or the PostgreSQL table), looked up by id, checked in constant time, and rate-limited per key.

Keys are made and revoked by `python -m tools.keys` while servers run, so a server reads them again on
its own: a file's inode, size and time are looked at at most once per `every` seconds and the file is
read when they changed; a table is read at most once per `every` seconds. A revocation therefore counts
within about a second, on every server of the installation. Between reads, a request looks up a dict.
"""
from __future__ import annotations

import logging
import threading
import time
from types import MappingProxyType
from typing import Callable, Mapping, Optional

from recognition.store.api_keys import KeyRecord, KeysDamaged, key_file, matches, parse
from recognition.store.interface import StoreError
from recognition.store.vault import StoreKey, StoreKeyError
from webapp.http.rate_limit import TokenBuckets

log = logging.getLogger(__name__)

RELOAD_EVERY = 1.0  # seconds a server may go on with keys it read before it looks again
FIRST_READ_WAIT = 10.0  # seconds a request waits for the first read of the keys (then 401: guarded)


class Keyring:
    """source: read(key) -> records, and optionally version() -> what changes with them (None: always read);
    sealing(): the store key and the installation secret. every: seconds between looks (longer costs
    fewer reads, and lets a revoked key work that much longer). clock: monotonic seconds (tests: manual)."""

    def __init__(self, source, sealing: Callable[[], tuple[StoreKey, bytes]], *, every: float = RELOAD_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._sealing = sealing
        self.every = every
        self._clock = clock
        self._reading = threading.Lock()  # one reader at a time; the others go on with the last keys read
        self._limits = threading.Lock()
        self._records: Mapping[str, KeyRecord] = MappingProxyType({})
        self._damaged = False  # the keys could not be read: every stored key is refused, the server stays guarded
        # Fail closed: until a first read succeeds, and once any key was seen (a file deleted or a table
        # emptied afterwards included), every guarded route needs a key.
        self._read_once = False
        self._ever = False
        self._looked: Optional[float] = None
        self._version: object = None
        self._buckets: dict[tuple[float, int], TokenBuckets] = {}

    @classmethod
    def for_store(cls, store, **options) -> Optional["Keyring"]:
        """The keys of a store: its table in PostgreSQL, else its data dir's file; None for a store with
        neither (one in memory only)."""
        url = getattr(store, "url", None)
        if url:
            from recognition.store.postgres.api_keys import KeyTable
            from recognition.store.postgres.store import connect

            table = KeyTable(lambda: connect(url, autocommit=True), store.location)
            return cls(table, lambda: (store.key, store.secret), **options)
        if getattr(store, "data_dir", None) is None:
            return None
        return cls(key_file(store), lambda: (store.key, store.secret), **options)

    def present(self) -> bool:
        """Whether any key was ever made here (a revoked one too): then every guarded route needs a key."""
        self._refresh()
        return self._ever or self._damaged or not self._read_once

    def get(self, key_id: str) -> Optional[KeyRecord]:
        """The record of that id, revoked or not."""
        self._refresh()
        return self._records.get(key_id)

    def find(self, token: str) -> Optional[KeyRecord]:
        """The active record whose key this is; None for anything else (not a key of ours, unknown, wrong
        secret, revoked). The secret is compared in constant time."""
        parsed = parse(token)
        if parsed is None:
            return None
        record = self.get(parsed[0])
        if record is None or not record.active:
            return None
        return record if matches(record, self._sealing()[1], parsed[1]) else None

    def admit(self, record: KeyRecord) -> Optional[float]:
        """Take one request from the key's bucket (its rate a second, its burst at once); or, when it is
        empty, the seconds until it holds one again."""
        with self._limits:
            buckets = self._buckets.get((record.rate, record.burst))
            if buckets is None:
                buckets = self._buckets[(record.rate, record.burst)] = TokenBuckets(
                    record.rate, record.burst, max_keys=10_000, clock=self._clock)
            now = self._clock()
            wait = buckets.wait(record.id, now)
            if wait > 0:
                return wait
            buckets.take(record.id, now)
            return None

    def close(self) -> None:
        """Let go of what the source holds open (a database connection)."""
        getattr(self._source, "close", lambda: None)()

    def _refresh(self) -> None:
        now = self._clock()
        if self._read_once and self._looked is not None and now - self._looked < self.every:
            return
        # Another request is reading them: this one goes on with the keys read last, or, before the
        # first read, waits for it (a request that came too early must not be refused a good key).
        got = (self._reading.acquire(blocking=False) if self._read_once
               else self._reading.acquire(timeout=FIRST_READ_WAIT))
        if not got:
            return
        try:
            now = self._clock()
            if self._looked is not None and now - self._looked < self.every:
                return  # read meanwhile by the request this one waited for (or tried, and failed: not again yet)
            self._looked = now
            version = getattr(self._source, "version", lambda: None)()
            if version is not None and version == self._version and not self._damaged:
                return
            try:
                records = self._source.read(self._sealing()[0])
            except (KeysDamaged, StoreKeyError) as exc:
                if not self._damaged:
                    log.error("the API keys cannot be read, so every stored key is refused until they can: %s", exc)
                self._records, self._damaged, self._version = MappingProxyType({}), True, version
                return
            except StoreError as exc:  # the database is away: the keys read last count until it is back
                log.warning("%s", exc)
                return
            self._records = MappingProxyType({r.id: r for r in records})
            self._damaged, self._version, self._read_once = False, version, True
            self._ever = self._ever or bool(records) or bool(getattr(self._source, "rows_seen", 0))
        finally:
            self._reading.release()
