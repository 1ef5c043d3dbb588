"""The shared store: identities in PostgreSQL, so that several servers (one per camera) know the same
people. Enroll once, recognised everywhere; delete once, gone everywhere.

What the database holds: the file store's sealed records (records.py: batches of identities by column,
AES-GCM under the store key), grouped in chunks of at most CHUNK_IDENTITIES people; a log of which chunk
changed; the installation secret, sealed with the key; the schema version. No name, vector, email hash
or rejection is there in the clear, and a record moved to another chunk or row is refused (its tag, an
HMAC under the installation secret, binds it to its place).

How the promises are kept:
- one write at a time across every server: a write first locks the log's head row, brings this
  server's memory up to date with what the others wrote, and only then decides, so "enroll unless
  someone already matches" holds across servers;
- a write is acknowledged after its COMMIT, which PostgreSQL has flushed to its log: kill -9 of a server
  (or of the database) never loses an acknowledged write;
- each server keeps every identity in memory (memory.StoreIndex, as the file store does) and matches
  from there; a follower thread applies the other servers' changes as they NOTIFY them (polling each
  POLL_SECONDS as well, so a lost notification costs at most that);
- the database away: reading and matching go on from memory; a write raises StoreUnavailable (503)
  until a connection succeeds again, which the next write and the follower both try by themselves;
- delete: the person's chunk is rewritten without them in the same transaction, and the follower
  VACUUMs the records table afterwards so PostgreSQL reclaims the old (sealed) row version;
- opening a million people reads and unseals about 500 chunk records, not a million rows.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import psycopg

from recognition.store import records
from recognition.store.changes import IdentityChanges
from recognition.store.identity import Identity
from recognition.store.interface import Candidate, Enrolled, FindExisting, StoreRejected, StoreUnavailable
from recognition.store.memory import StoreIndex
from recognition.store.postgres import schema
from recognition.store.postgres.errors import close_quietly, store_errors, usable
from recognition.store.postgres.follower import ChangeFollower
from recognition.store.postgres.spent import SpentTable
from recognition.store.reading import MemoryReads
from recognition.store.vault import KeyMissing, StoreKey, check_outside, read_or_create_key, seal, sealed_key_id, unseal

if TYPE_CHECKING:
    from recognition.store.postgres.album_files import AlbumFileTable

log = logging.getLogger(__name__)

CHUNK_IDENTITIES = 2048  # people per chunk: what one rename or delete rewrites (about 1 MB sealed)
CHANNEL = "faceapp_changes"
SECRET_MAGIC = b"FACESEC\x01"
CONNECT_TIMEOUT = 5  # seconds to reach the database
LOCK_TIMEOUT_MS = 5000  # a write waits this long for another server's write
STATEMENT_TIMEOUT_MS = 60000
LOG_KEPT = "1 hour"  # changes older than this are pruned; a server away longer reloads everything


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection that notices a dead database or network within seconds, never waiting for ever."""
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT, application_name="faceapp",
                           keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                           tcp_user_timeout=10000,
                           options=f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}")


def where(url: str) -> str:
    """The database a URL names, without its password (for messages and logs)."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the database URL given"
    user = parts.get("user")
    return f"postgresql://{f'{user}@' if user else ''}{parts.get('host', 'localhost')}" \
           f":{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _row(row: Optional[tuple[Any, ...]], what: str) -> tuple[Any, ...]:
    """A row the schema guarantees (the log head's only row, the secret just written), or a clear error."""
    if row is None:
        raise RuntimeError(f"the database has no {what}: its tables were altered outside this server")
    return row


class PostgresStore(MemoryReads, IdentityChanges):
    """The FaceStore of a PostgreSQL database. data_dir holds this server's side files (the classifier,
    album indexes), sealed with the same key. secret: the installation secret a new database is to take
    (moving a store here from elsewhere); a database that has one already must have the same."""

    def __init__(self, url: str, data_dir: Path, key_path: Path, *, read_only: bool = False, follow: bool = True,
                 chunk_identities: int = CHUNK_IDENTITIES, secret: Optional[bytes] = None) -> None:
        self.url = url
        self.location = where(url)
        self.data_dir = Path(data_dir)
        self.key_path = Path(key_path)
        self.read_only = read_only
        self._chunk_identities = chunk_identities
        self._writer = threading.Lock()  # one thread changes memory at a time: a write, or the follower
        self._state = threading.Lock()  # held only while memory changes, by readers of whole identities
        self._index = StoreIndex()
        self._seen = 0  # the last change of the log that memory holds
        self._conn: Optional[psycopg.Connection] = None  # the writer's
        self._follower: Optional[ChangeFollower] = None
        self.vacuum_due = threading.Event()
        self._spent = SpentTable(lambda: connect(url, autocommit=True), lambda: self.secret, self.location)
        check_outside(self.key_path, self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        started = time.monotonic()
        try:
            conn = self._connection()
            schema.migrate(conn, apply=not read_only)
            self.key, self.secret = self._key_and_secret(conn, secret)
            self._load(conn)
        except psycopg.Error as exc:
            self.close()
            raise StoreUnavailable(f"cannot open the store in {self.location}: {exc}") from exc
        except BaseException:
            self.close()
            raise
        log.info("loaded %d identities from %s in %.2f s", len(self), self.location, time.monotonic() - started)
        if follow:
            self._follower = ChangeFollower(self)
            self._follower.start()

    # -- writing: each returns once committed, and only then shows the change in memory -----------
    def enroll(self, model: str, candidates: Sequence[Candidate], find_existing: FindExisting) -> list[Enrolled]:
        if not candidates:
            return []

        def work(tx: "Transaction"):
            outcomes, created = self._index.plan_enrollment(model, candidates, find_existing)
            return outcomes, (self._append(tx, created) if created else None)

        return self._transact("enroll", work)

    def add_many(self, identities: Sequence[Identity]) -> None:
        def work(tx: "Transaction"):
            hashes: set[str] = set()
            emails: set[str] = set()
            for identity in identities:
                self._index.check_new(identity.hash, identity.email_hash, hashes, emails)
            self._index.check_loadable(identities)
            shows = [self._append(tx, list(identities[start : start + self._chunk_identities]), fresh_chunk=True)
                     for start in range(0, len(identities), self._chunk_identities)]
            return None, lambda: [show() for show in shows]

        self._transact("add identities", work)

    def remove(self, identity_hash: str) -> Identity:
        removed = super().remove(identity_hash)
        self.vacuum_due.set()  # the follower VACUUMs: PostgreSQL reclaims the old (sealed) row version
        return removed

    def spend(self, tag: bytes, until: float, *, forgettable: bool = False) -> bool:  # the table has no bound
        if self.read_only:
            raise PermissionError("the store was opened read-only; cannot record a spent tag")
        return self._spent.spend(tag, until)

    def is_spent(self, tag: bytes) -> bool:
        return self._spent.is_spent(tag)

    def album_files(self) -> "AlbumFileTable":
        """A table of shared album files on a connection of its own (one per thread that uses it): what
        tells the album library that this store is shared, so its albums are indexed together."""
        from recognition.store.postgres.album_files import AlbumFileTable

        return AlbumFileTable(lambda: connect(self.url, autocommit=True), self.location)

    def close(self, timeout: float = 10.0) -> None:
        self._spent.close()
        if self._follower is not None:
            self._follower.stop(timeout)
            self._follower = None
        writing = self._writer.acquire(timeout=timeout)
        try:
            if not writing:
                log.error("a write still runs after %.0f s; its connection is left to it", timeout)
                return
            self._drop_connection()
        finally:
            if writing:
                self._writer.release()

    def __enter__(self) -> "PostgresStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- following the other servers ---------------------------------------------------------
    def follow(self, conn: psycopg.Connection) -> None:
        """Apply the changes other servers committed since memory's last (the follower's connection)."""
        with conn.transaction(), conn.cursor(binary=True) as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one moment of the log
            head = _row(cursor.execute("SELECT seq FROM faceapp_head").fetchone(), "change log head")[0]
            seen = self._seen
            if head <= seen:
                return
            update = self._read_changes(cursor, seen, head)
        if not self._writer.acquire(timeout=STATEMENT_TIMEOUT_MS / 1000):
            return  # a write is stuck; it catches up by itself, and the next poll tries again
        try:
            if self._seen < head:  # else a write of this server got there first, up to or past head
                self._apply(update, head)
        finally:
            self._writer.release()

    def _read_changes(self, cursor, seen: int, head: int) -> Callable[[], None]:
        """Read what changed in (seen, head] and return how to apply it to memory (under the writer lock)."""
        oldest = cursor.execute("SELECT min(seq) FROM faceapp_changes").fetchone()[0]
        if oldest is None or oldest > seen + 1:  # pruned past what this server saw: read everything again
            log.warning("this server missed changes older than the log keeps (%s); reloading the store", LOG_KEPT)
            fresh = StoreIndex()
            self._read_all(cursor, fresh)
            return lambda: self._swap(fresh)
        changes = cursor.execute("SELECT chunk, record FROM faceapp_changes WHERE seq > %s AND seq <= %s ORDER BY seq",
                                 (seen, head)).fetchall()
        rewritten = sorted({chunk for chunk, record in changes if record is None})
        appended = [record for chunk, record in changes if record is not None and chunk not in rewritten]
        whole = {chunk: self._chunk_groups(cursor, chunk) for chunk in rewritten}
        added = self._records(cursor, "id = ANY(%s)", (appended,))

        def apply() -> None:
            for chunk, groups in whole.items():
                self._index.sync_segment(chunk, groups)
            for chunk, groups in added:
                fresh = [i for group in groups for i in group.identities() if i.hash not in self._index.meta]
                if fresh:
                    self._index.remember(fresh, chunk)

        return apply

    def _apply(self, update: Callable[[], None], head: int) -> None:
        with self._state:
            update()
            self._seen = head

    def _swap(self, fresh: StoreIndex) -> None:
        fresh.publish()
        self._index = fresh

    # -- the transaction every write runs in -------------------------------------------------
    def _transact(self, action: str, work: Callable[["Transaction"], tuple]):
        """Run work(tx) -> (result, show) in one transaction with the log's head locked, after memory has
        caught up with every other server; once committed, show() the change in memory."""
        if self.read_only:
            raise PermissionError(f"the store was opened read-only; cannot {action}")
        with self._writer:
            with store_errors(action, self.location, self._drop_connection, outcome="nothing was changed",
                              while_away="recognition goes on; changes are accepted again once it is back"):
                conn = self._connection()
                with conn.transaction(), conn.cursor(binary=True) as cursor:
                    head = _row(cursor.execute("SELECT seq FROM faceapp_head FOR UPDATE").fetchone(),
                                "change log head")[0]
                    if head > self._seen:
                        self._apply(self._read_changes(cursor, self._seen, head), head)
                    tx = Transaction(cursor, head)
                    result, show = work(tx)
                    if tx.seq > head:
                        cursor.execute("UPDATE faceapp_head SET seq = %s", (tx.seq,))
                        cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(tx.seq)))
                        if tx.seq % 256 == 0:
                            cursor.execute(f"DELETE FROM faceapp_changes WHERE made < now() - interval '{LOG_KEPT}'")
            with self._state:
                if show is not None:
                    show()
                self._seen = tx.seq
            return result

    def _change(self, identity_hash: str, change: Callable[[Identity], Optional[Identity]],
                show: Callable[[], None]) -> Identity:
        """Rewrite the identity's chunk with change applied (None: removed), then show() it in memory."""
        def work(tx: "Transaction"):
            before = self._index.identity(identity_hash)  # KeyError if absent
            after = change(before)
            self._rewrite(tx, self._index.meta[identity_hash].segment, {identity_hash: after})
            return (after if after is not None else before), show

        return self._transact("change an identity", work)

    def _append(self, tx: "Transaction", identities: list[Identity], *, fresh_chunk: bool = False) -> Callable:
        """Append identities to the newest chunk with room (a full one is first compacted to one record)."""
        newest = max(self._index.segments, default=0)
        residents = len(self._index.segments.get(newest, ())) + tx.appended.get(newest, 0)
        if not newest or fresh_chunk or residents >= self._chunk_identities:
            if newest and newest not in tx.appended and residents >= self._chunk_identities:
                self._rewrite(tx, newest, {})  # closed from now on: one record opens faster than many
            newest = max([newest, *tx.appended]) + 1
        self._insert(tx, newest, records.encode(records.group_by_model(identities), self.key))
        tx.appended[newest] = tx.appended.get(newest, 0) + len(identities)
        number = newest
        return lambda: self._index.remember(identities, number)

    def _rewrite(self, tx: "Transaction", chunk: int, changes: dict[str, Optional[Identity]]) -> None:
        groups = self._index.groups(chunk, changes)
        tx.cursor.execute("DELETE FROM faceapp_records WHERE chunk = %s", (chunk,))
        if groups:
            self._insert(tx, chunk, records.encode(groups, self.key), logged=False)
        tx.log(chunk, None)

    def _insert(self, tx: "Transaction", chunk: int, body: bytes, *, logged: bool = True) -> None:
        record = tx.cursor.execute("SELECT nextval('faceapp_records_id_seq')").fetchone()[0]
        tx.cursor.execute("INSERT INTO faceapp_records (id, chunk, body, tag) VALUES (%s, %s, %s, %s)",
                          (record, chunk, body, self._tag(chunk, record, body)))
        if logged:
            tx.log(chunk, record)

    # -- reading records ---------------------------------------------------------------------
    def _tag(self, chunk: int, record: int, body: bytes) -> bytes:
        place = chunk.to_bytes(8, "big", signed=True) + record.to_bytes(8, "big", signed=True)
        return hmac.new(self.secret, b"faceapp record\0" + place + hashlib.sha256(body).digest(), "sha256").digest()

    def _records(self, cursor, condition: str, params: tuple) -> list[tuple[int, list[records.Group]]]:
        """(chunk, groups) of each record that matches, in the order written, checked and unsealed."""
        rows = cursor.execute(f"SELECT chunk, id, body, tag FROM faceapp_records WHERE {condition} ORDER BY id",
                              params).fetchall()
        return [(chunk, self._decode(chunk, record, bytes(body), bytes(tag))) for chunk, record, body, tag in rows]

    def _chunk_groups(self, cursor, chunk: int) -> list[records.Group]:
        return [group for _, groups in self._records(cursor, "chunk = %s", (chunk,)) for group in groups]

    def _decode(self, chunk: int, record: int, body: bytes, tag: bytes) -> list[records.Group]:
        what = f"{self.location} record {record} (chunk {chunk})"
        if not hmac.compare_digest(tag, self._tag(chunk, record, body)):
            raise StoreRejected(f"{what} was moved or altered: its tag does not match its place")
        return records.decode(body, [self.key], what)

    def _read_all(self, cursor, index: StoreIndex) -> None:
        """Every record into index, chunk by chunk, without holding them all at once."""
        cursor.execute("SELECT DISTINCT chunk FROM faceapp_records ORDER BY chunk")
        for (chunk,) in cursor.fetchall():
            for number, groups in self._records(cursor, "chunk = %s", (chunk,)):
                for group in groups:
                    index.load(group, number, f"{self.location} chunk {number}")

    def _load(self, conn: psycopg.Connection) -> None:
        with conn.transaction(), conn.cursor(binary=True) as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._seen = _row(cursor.execute("SELECT seq FROM faceapp_head").fetchone(), "change log head")[0]
            self._read_all(cursor, self._index)
        self._index.publish()

    # -- keys and connections ----------------------------------------------------------------
    def _key_and_secret(self, conn: psycopg.Connection, given: Optional[bytes]) -> tuple[StoreKey, bytes]:
        """This server's key, and the installation secret the database keeps sealed with it (made by the
        first server to open the database). A server without the key that sealed it is refused."""
        with conn.transaction():
            sealed = conn.execute("SELECT value FROM faceapp_settings WHERE name = 'secret'").fetchone()
            if sealed is None and not self.key_path.exists() and self.read_only:
                raise KeyMissing(f"no store key at {self.key_path}")
            if sealed is not None and not self.key_path.exists():
                key_id = sealed_key_id(SECRET_MAGIC, bytes(sealed[0]))
                raise KeyMissing(f"the store in {self.location} is sealed with key id "
                                 f"{key_id.hex() if key_id else '?'}, "
                                 f"and there is no key at {self.key_path}: copy the key file of a server that uses "
                                 f"this database and point --key-file (FACE_KEY_FILE) at it")
            key = read_or_create_key(self.key_path, create=not self.read_only)
            if sealed is None:
                if self.read_only:
                    return key, b""
                secret = given or secrets.token_bytes(32)
                conn.execute("INSERT INTO faceapp_settings (name, value) VALUES ('secret', %s) ON CONFLICT DO NOTHING",
                             (seal(key, SECRET_MAGIC, secret),))
                sealed = _row(conn.execute("SELECT value FROM faceapp_settings WHERE name = 'secret'").fetchone(),
                              "installation secret just written")
            try:
                secret = unseal([key], SECRET_MAGIC, bytes(sealed[0]), f"the installation secret in {self.location}")
            except ValueError as exc:
                raise StoreRejected(str(exc))
        if given is not None and given != secret:
            raise StoreRejected(f"the store in {self.location} belongs to another installation (its secret differs), "
                                f"so hashes could not be kept; use an empty database")
        return key, secret

    def _connection(self) -> psycopg.Connection:
        self._conn = usable(self._conn, lambda: connect(self.url))
        return self._conn

    def _drop_connection(self) -> None:
        close_quietly(self._conn)
        self._conn = None


class Transaction:
    """A write in progress: its cursor, the log numbers it takes, and what it appended where."""

    def __init__(self, cursor, head: int) -> None:
        self.cursor = cursor
        self.seq = head
        self.appended: dict[int, int] = {}  # chunk -> identities this write appended to it

    def log(self, chunk: int, record: Optional[int]) -> None:
        self.seq += 1
        self.cursor.execute("INSERT INTO faceapp_changes (seq, chunk, record) VALUES (%s, %s, %s)",
                            (self.seq, chunk, record))

