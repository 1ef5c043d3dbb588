"""The spent ledger of the shared store: one-time tags in the faceapp_spent table (schema.py, version 2),
so that every server on the database refuses a tag any of them spent, across restarts.

A tag is kept as its keyed hash (spent.tag_hash, under the installation secret every server shares) with
the unix time until which it counts. Spending is one statement, `INSERT ... ON CONFLICT DO UPDATE ...
WHERE the row has expired`: two servers spending one tag at once are ordered by the primary key, and
exactly one of them gets a row back. It runs on a connection of the ledger's own (autocommit: the
statement commits, flushed to PostgreSQL's log, before spend returns), so a sign-in never waits behind
an enrollment's transaction. Expired rows are deleted now and then (PRUNE_EVERY) by whichever server
spends.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

import psycopg

from recognition.store.postgres.errors import close_quietly, store_errors, usable
from recognition.store.spent import tag_hash

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0  # seconds between deletions of expired rows (per server)
SPEND = ("INSERT INTO faceapp_spent (tag, until) VALUES (%s, %s) ON CONFLICT (tag) DO UPDATE "
         "SET until = EXCLUDED.until WHERE faceapp_spent.until <= %s RETURNING true")


class SpentTable:
    """connect() opens an autocommit connection to the database (made when first needed, again after a
    failure); secret() gives the installation secret; location names the database in messages."""

    def __init__(self, connect: Callable[[], psycopg.Connection], secret: Callable[[], bytes], location: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._connect = connect
        self._secret = secret
        self._location = location
        self._clock = clock
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._conn: Optional[psycopg.Connection] = None
        self._pruned = float("-inf")  # time.monotonic() of the last deletion of expired rows

    def spend(self, tag: bytes, until: float) -> bool:
        hashed, now = tag_hash(self._secret(), tag), self._clock()

        def run(conn: psycopg.Connection) -> bool:
            if time.monotonic() - self._pruned >= PRUNE_EVERY:
                deleted = conn.execute("DELETE FROM faceapp_spent WHERE until <= %s", (now,)).rowcount
                self._pruned = time.monotonic()
                if deleted:
                    log.debug("pruned %d expired spent tags", deleted)
            return conn.execute(SPEND, (hashed, float(until), now)).fetchone() is not None

        return self._run("record a spent tag", run)

    def is_spent(self, tag: bytes) -> bool:
        hashed, now = tag_hash(self._secret(), tag), self._clock()
        return self._run("look up a spent tag", lambda conn: conn.execute(
            "SELECT 1 FROM faceapp_spent WHERE tag = %s AND until > %s", (hashed, now)).fetchone() is not None)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _run(self, action: str, work: Callable[[psycopg.Connection], bool]) -> bool:
        with self._lock, store_errors(action, self._location, self._drop,
                                      while_away="sign-ins are refused until it is back"):
            self._conn = usable(self._conn, self._connect)
            return work(self._conn)

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None
