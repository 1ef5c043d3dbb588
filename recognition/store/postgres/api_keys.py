"""The shared store's API keys: the faceapp_api_keys table (schema.py, version 3), one row per key.

Each row is the key's record (recognition/store/api_keys.py) sealed with the store key every server of
the installation holds, with its id inside the seal too: a row copied under another id is refused, and
the database alone reads nothing of it (no label, no scope, no hash of the secret in the clear). Keys are
few and read whole: servers read them again at most once a second (webapp/http/keyring.py), so a key
made or revoked on one server, or by `python -m tools.keys`, counts on every server within a second.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

import psycopg

from recognition.store.api_keys import KeyRecord, KeysDamaged, seal_records, unseal_records
from recognition.store.postgres.errors import close_quietly, store_errors, usable
from recognition.store.vault import StoreKey, StoreKeyError

log = logging.getLogger(__name__)

MAGIC = b"FACEKYR\x01"


class KeyTable:
    """connect() opens an autocommit connection (made when first needed, again after a failure);
    location names the database in messages."""

    def __init__(self, connect: Callable[[], psycopg.Connection], location: str) -> None:
        self._connect = connect
        self._location = location
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._conn: Optional[psycopg.Connection] = None
        self.rows_seen = 0  # rows of the last read, unreadable ones too: keys exist even if none opens

    def read(self, key: StoreKey) -> list[KeyRecord]:
        """Every record, revoked ones too. A row that does not open with the key, or names another id than
        its own, is left out with a warning (its key then opens nothing)."""
        rows = self._run("read the API keys", lambda conn: conn.execute(
            "SELECT id, body FROM faceapp_api_keys ORDER BY id").fetchall())
        self.rows_seen = len(rows)
        records = []
        for key_id, body in rows:
            try:
                (record,) = unseal_records([key], MAGIC, bytes(body), f"the API key {key_id} in {self._location}")
                if record.id != key_id:
                    raise KeysDamaged(f"the API key row {key_id} holds the record of {record.id}")
            except (KeysDamaged, StoreKeyError, ValueError) as exc:
                log.warning("left out an API key: %s", exc)
                continue
            records.append(record)
        return records

    def put(self, key: StoreKey, record: KeyRecord) -> None:
        """Add the record, or replace the one of its id (a revocation); committed before returning."""
        body = seal_records(key, MAGIC, [record])
        self._run("store an API key", lambda conn: conn.execute(
            "INSERT INTO faceapp_api_keys (id, body) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET body = "
            "EXCLUDED.body", (record.id, body)))

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _run(self, action: str, work: Callable[[psycopg.Connection], object]):
        with self._lock, store_errors(action, self._location, self._drop,
                                      while_away="API keys are checked against the last ones read"):
            self._conn = usable(self._conn, self._connect)
            return work(self._conn)

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None


def table_has_keys(url: str) -> bool:
    """Whether the database at url holds any API key; False when it has no such table or cannot be asked."""
    from recognition.store.postgres.store import connect

    try:
        with connect(url, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('faceapp_api_keys')").fetchone() in (None, (None,)):
                return False
            return conn.execute("SELECT 1 FROM faceapp_api_keys LIMIT 1").fetchone() is not None
    except psycopg.Error as exc:
        log.warning("could not tell whether the database holds API keys: %s", str(exc).strip())
        return False
