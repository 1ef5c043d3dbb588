"""The files of shared albums in PostgreSQL: the faceapp_album_files table (schema.py, version 4).

Several servers that see the same album folder index it together: each walks its folder and records the
files it sees (sync), claims a few pending ones at a time with `FOR UPDATE SKIP LOCKED` (claim), keeps its
claims alive while it works (extend), and writes a result only where the claim is still its own (finish):
a server that lost its claim (it hung past the deadline and another took over) never overwrites, and a
server killed mid-photo loses its claims once their deadline passes.

This module is SQL only: rows carry bytes the album code seals and opens (recognition/album/shared_index.py);
no path, box or vector is in the clear here. Each method runs on the table's own autocommit connection.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional, Sequence

import psycopg

from recognition.store.postgres.errors import close_quietly, store_errors, usable

SYNC_ROWS = 1000  # files recorded per statement by a walk

# A changed file (or one back after it had gone) is pending again; its old entry stays (body) until the
# new one is written, so search keeps it and an unchanged content is not embedded again.
SYNC = """
    INSERT INTO faceapp_album_files AS f (album, path_tag, size, mtime_ns, state, body, seen)
    SELECT %(album)s, tag, size, mtime, 'pending', body, clock_timestamp()
      FROM unnest(%(tags)s::bytea[], %(sizes)s::bigint[], %(mtimes)s::bigint[], %(bodies)s::bytea[])
           AS given(tag, size, mtime, body)
    ON CONFLICT (album, path_tag) DO UPDATE SET
      seen = EXCLUDED.seen, size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
      state = CASE WHEN f.state = 'gone' OR (f.size, f.mtime_ns) <> (EXCLUDED.size, EXCLUDED.mtime_ns)
                   THEN 'pending' ELSE f.state END,
      body = coalesce(f.body, EXCLUDED.body)
"""

CLAIM = """
    WITH next AS (
      SELECT album, path_tag FROM faceapp_album_files
       WHERE album = %(album)s AND NOT (path_tag = ANY(%(exclude)s))
         AND (state = 'pending' OR (state = 'claimed' AND claim_until < clock_timestamp()))
       LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    UPDATE faceapp_album_files f SET state = 'claimed', claimed_by = %(me)s, claims = f.claims + 1,
           claim_until = clock_timestamp() + make_interval(secs => %(seconds)s)
      FROM next WHERE f.album = next.album AND f.path_tag = next.path_tag
    RETURNING f.path_tag, f.body
"""

GONE_AT_ONCE = 10  # files a walk may find gone beyond half of the album's before it is not believed


@dataclass(frozen=True)
class FileRow:
    tag: bytes
    body: Optional[bytes]  # sealed by the album code; None for a file gone


@dataclass(frozen=True)
class ChangedRow:
    tag: bytes
    state: str
    body: Optional[bytes]
    change: int


@dataclass(frozen=True)
class AlbumCounts:
    """An album's files by state, by skip reason and by the server that indexed them."""

    states: dict[str, int]
    skipped: dict[str, int]
    done_by: dict[str, int]
    claimed_elsewhere: int  # claims of other servers still within their deadline

    @property
    def total(self) -> int:
        return sum(count for state, count in self.states.items() if state != "gone")

    @property
    def finished(self) -> int:
        return self.states.get("done", 0) + self.states.get("skipped", 0)


def album_lock(album: bytes) -> int:
    """The advisory lock that orders an album's changes (a bigint taken from its key)."""
    return int.from_bytes(album[:8], "big", signed=True)


class AlbumFileTable:
    """connect() opens an autocommit connection (made when first needed, again after a failure); location
    names the database in messages."""

    def __init__(self, connect: Callable[[], psycopg.Connection], location: str) -> None:
        self._connect = connect
        self._location = location
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._conn: Optional[psycopg.Connection] = None

    def now(self) -> datetime:
        """The database's clock: what a walk's start is compared with (servers' clocks may differ)."""
        return self._run("read the clock",
                         lambda conn: (conn.execute("SELECT clock_timestamp()").fetchone() or (None,))[0])

    def sync(self, album: bytes, files: Sequence[tuple[bytes, int, int, bytes]]) -> None:
        """Record the files a walk saw: (tag, size, mtime_ns, sealed path). New or changed ones are pending."""
        for start in range(0, len(files), SYNC_ROWS):
            part = files[start : start + SYNC_ROWS]
            params = {"album": album, "tags": [f[0] for f in part], "sizes": [f[1] for f in part],
                      "mtimes": [f[2] for f in part], "bodies": [f[3] for f in part]}
            self._run("record an album's files", lambda conn: conn.execute(SYNC, params))

    def mark_gone(self, album: bytes, walked_since: datetime) -> int:
        """Files no walk has seen since walked_since left the album: their entries are removed (a change).
        Not a file another server is working on now; and none at all when more than half of the album's
        files would go (a mount half there, a sync still copying, is likelier than half an album deleted):
        then the count of those that would have gone is returned, negative, and nothing changes."""
        unseen = ("album = %s AND state <> 'gone' AND seen < %s "
                  "AND NOT (state = 'claimed' AND claim_until >= clock_timestamp())")

        def work(conn):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (album_lock(album),))
                going = conn.execute(f"SELECT count(*) FROM faceapp_album_files WHERE {unseen}",
                                     (album, walked_since)).fetchone()[0]
                live = conn.execute("SELECT count(*) FROM faceapp_album_files WHERE album = %s AND state <> 'gone'",
                                    (album,)).fetchone()[0]
                if going > GONE_AT_ONCE + live // 2:
                    return -going
                return conn.execute(
                    "UPDATE faceapp_album_files SET state = 'gone', body = NULL, claimed_by = NULL, "
                    "claim_until = NULL, skip_reason = NULL, change = nextval('faceapp_album_changes') "
                    f"WHERE {unseen}", (album, walked_since)).rowcount

        return self._run("remove files gone from an album", work)

    def claim(self, album: bytes, me: str, limit: int, seconds: float,
              exclude: Sequence[bytes] = ()) -> list[FileRow]:
        """Up to limit pending files (or claims whose deadline passed), claimed by me for seconds; rows
        another server is claiming at this moment are skipped, not waited for."""
        params = {"album": album, "me": me, "limit": limit, "seconds": seconds, "exclude": list(exclude)}
        rows = self._run("claim album files", lambda conn: conn.execute(CLAIM, params).fetchall())
        return [FileRow(bytes(tag), None if body is None else bytes(body)) for tag, body in rows]

    def extend(self, me: str, seconds: float) -> int:
        """Push the deadline of every claim of mine seconds ahead (I am alive and working)."""
        return self._run("extend album claims", lambda conn: conn.execute(
            "UPDATE faceapp_album_files SET claim_until = clock_timestamp() + make_interval(secs => %s) "
            "WHERE claimed_by = %s AND state = 'claimed'", (seconds, me)).rowcount)

    def finish(self, album: bytes, tag: bytes, me: str, body: bytes, skip_reason: Optional[str] = None) -> bool:
        """Write a claimed file's result (done with body, or skipped for skip_reason) if the claim is still
        mine; False when it is not (it ran out and another server took it, or the file changed)."""
        def work(conn):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (album_lock(album),))
                return conn.execute(
                    "UPDATE faceapp_album_files SET state = %s, body = %s, skip_reason = %s, done_by = %s, "
                    "claimed_by = NULL, claim_until = NULL, finishes = finishes + 1, "
                    "change = nextval('faceapp_album_changes') "
                    "WHERE album = %s AND path_tag = %s AND state = 'claimed' AND claimed_by = %s",
                    ("skipped" if skip_reason else "done", body, skip_reason, me, album, tag, me)).rowcount == 1

        return self._run("write an album file's entry", work)

    def release(self, album: bytes, tag: bytes, me: str) -> None:
        """Give a claim back (this server cannot read that file): pending again for another server."""
        self._run("release an album file", lambda conn: conn.execute(
            "UPDATE faceapp_album_files SET state = 'pending', claimed_by = NULL, claim_until = NULL "
            "WHERE album = %s AND path_tag = %s AND state = 'claimed' AND claimed_by = %s", (album, tag, me)))

    def changes(self, album: bytes, after: int) -> list[ChangedRow]:
        """Rows whose entry changed after change number `after`, in the order they changed."""
        rows = self._run("read an album's changes", lambda conn: conn.execute(
            "SELECT path_tag, state, body, change FROM faceapp_album_files WHERE album = %s AND change > %s "
            "ORDER BY change", (album, after)).fetchall())
        return [ChangedRow(bytes(tag), state, None if body is None else bytes(body), change)
                for tag, state, body, change in rows]

    def outstanding(self, album: bytes, me: str, exclude: Sequence[bytes] = ()) -> tuple[int, int]:
        """(files I could claim, claims of other servers within their deadline). A claim can come back
        empty while files are claimable (another server's walk or claim holds their rows for a moment):
        only this says that nothing is left."""
        return self._run("count an album's open files", lambda conn: conn.execute(
            "SELECT count(*) FILTER (WHERE NOT (path_tag = ANY(%(exclude)s)) AND (state = 'pending' OR "
            "claim_until < clock_timestamp())), count(*) FILTER (WHERE state = 'claimed' AND claimed_by <> %(me)s "
            "AND claim_until >= clock_timestamp()) FROM faceapp_album_files WHERE album = %(album)s AND state IN "
            "('pending', 'claimed')", {"album": album, "me": me, "exclude": list(exclude)}).fetchone())

    def counts(self, album: bytes, me: str) -> AlbumCounts:
        def work(conn):
            states = dict(conn.execute("SELECT state, count(*) FROM faceapp_album_files WHERE album = %s "
                                       "GROUP BY state", (album,)).fetchall())
            skipped = dict(conn.execute("SELECT skip_reason, count(*) FROM faceapp_album_files WHERE album = %s "
                                        "AND state = 'skipped' GROUP BY skip_reason", (album,)).fetchall())
            done_by = dict(conn.execute("SELECT done_by, count(*) FROM faceapp_album_files WHERE album = %s "
                                        "AND state IN ('done', 'skipped') GROUP BY done_by", (album,)).fetchall())
            elsewhere = conn.execute("SELECT count(*) FROM faceapp_album_files WHERE album = %s AND state = "
                                     "'claimed' AND claimed_by <> %s AND claim_until >= clock_timestamp()",
                                     (album, me)).fetchone()
            return AlbumCounts(states, skipped, done_by, elsewhere[0] if elsewhere else 0)

        return self._run("count an album's files", work)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _run(self, action: str, work: Callable[[psycopg.Connection], object]):
        with self._lock, store_errors(action, self._location, self._drop):
            self._conn = usable(self._conn, self._connect)
            return work(self._conn)

    def _drop(self) -> None:
        close_quietly(self._conn)
        self._conn = None
