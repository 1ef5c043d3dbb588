"""The thread that keeps a server's memory in step with the other servers' writes: it LISTENs for
their notifications, polls as well (a notification can be lost with a connection), reconnects by
itself when the database comes back, and vacuums the records after a delete."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import psycopg

from recognition.store.interface import StoreRejected

if TYPE_CHECKING:
    from recognition.store.postgres.store import PostgresStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # the longest a missed notification delays a change reaching this server
RETRY_SECONDS = (0.5, 1, 2, 5)  # waits between attempts to reconnect, the last one repeated


class ChangeFollower(threading.Thread):
    def __init__(self, store: "PostgresStore") -> None:
        super().__init__(name="store-follower", daemon=True)
        self.store = store
        self._stopping = threading.Event()
        self.connected = threading.Event()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self.join(timeout)

    def run(self) -> None:
        from recognition.store.postgres.store import CHANNEL, connect

        failures = 0
        while not self._stopping.is_set():
            try:
                with connect(self.store.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failures:
                        log.warning("the database %s is back; following changes again", self.store.location)
                    failures = 0
                    self.connected.set()
                    self._follow(conn)
            except psycopg.Error as exc:
                self.connected.clear()
                if not failures:
                    log.error("lost the database %s (%s); recognition goes on with the people already known, "
                              "changes are refused until it is back", self.store.location, str(exc).strip())
                self._stopping.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1

    def _follow(self, conn: psycopg.Connection) -> None:
        refused = None
        while not self._stopping.is_set():
            try:
                self.store.follow(conn)
            except StoreRejected as exc:  # a record this server cannot trust: keep what memory has
                if str(exc) != refused:
                    log.error("a change in the database was not applied: %s", exc)
                refused = str(exc)
            if self.store.vacuum_due.is_set():
                self.store.vacuum_due.clear()
                conn.execute("VACUUM faceapp_records")  # the deleted person's old row version, reclaimed
            for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                pass
