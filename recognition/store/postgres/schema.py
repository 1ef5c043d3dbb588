"""The shared store's tables, as numbered migrations applied in order and recorded in faceapp_schema.

A server applies what its release knows and the database lacks (one server at a time, under an
advisory lock), and refuses a database a newer release has migrated further.
"""
from __future__ import annotations

import logging

from recognition.store.interface import StoreRejected

log = logging.getLogger(__name__)

SCHEMA_LOCK = 7_466_534_106  # pg_advisory_xact_lock key: one server migrates at a time

# (version, what it does, SQL). Never edit a released migration: add the next one.
MIGRATIONS = [
    (1, "sealed records of identities in chunks, the change log and its head, settings", """
        CREATE TABLE faceapp_settings (name text PRIMARY KEY, value bytea NOT NULL);
        -- One row: the newest change. Every write locks it first, so writes happen one at a time
        -- across all servers, and the log's numbers have no gaps.
        CREATE TABLE faceapp_head (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), seq bigint NOT NULL);
        INSERT INTO faceapp_head (seq) VALUES (0);
        -- Sealed batches of identities (recognition/store/records.py); tag binds each to its chunk and id.
        CREATE TABLE faceapp_records (id bigserial PRIMARY KEY, chunk bigint NOT NULL, body bytea NOT NULL,
                                      tag bytea NOT NULL);
        -- Sealed bytes do not compress: do not try on every write.
        ALTER TABLE faceapp_records ALTER COLUMN body SET STORAGE EXTERNAL;
        CREATE INDEX faceapp_records_chunk ON faceapp_records (chunk);
        -- What changed: a record appended to a chunk, or (record NULL) a chunk rewritten. No identity data.
        CREATE TABLE faceapp_changes (seq bigint PRIMARY KEY, chunk bigint NOT NULL, record bigint,
                                      made timestamptz NOT NULL DEFAULT now());
    """),
    (2, "the spent ledger: one-time tags (challenge nonces, burst digests, revoked sessions) until they expire", """
        -- tag: a keyed hash (recognition/store/spent.py), never the nonce or session id itself;
        -- until: unix time after which the tag counts no more (expired rows are deleted now and then).
        CREATE TABLE faceapp_spent (tag bytea PRIMARY KEY, until double precision NOT NULL);
        CREATE INDEX faceapp_spent_until ON faceapp_spent (until);
    """),
    (3, "API keys with scopes: one sealed record per key, found by its public id", """
        -- body: the key's record (recognition/store/api_keys.py) sealed with the store key, its id inside;
        -- the key's secret is never kept, only a keyed hash of it within the sealed record.
        CREATE TABLE faceapp_api_keys (id text PRIMARY KEY, body bytea NOT NULL);
    """),
    (4, "album files indexed together: one row per file of a shared album, claimed with SKIP LOCKED", """
        -- album: a keyed hash of the album's name and settings; path_tag: a keyed hash of the album and the
        -- file's path (recognition/album/shared_index.py). The path, and once indexed the file's entry
        -- (face boxes and vectors), are only inside body, sealed with the store key and bound to this row.
        -- size and mtime_ns tell a changed file; state: pending, claimed (by claimed_by until claim_until),
        -- done, skipped (skip_reason) or gone (the file left the album: body NULL).
        -- change: from faceapp_album_changes, taken when a row's entry changes (done, skipped, gone) under a
        -- per-album advisory lock, so followers read an album's changes in the order they commit.
        -- claims and finishes count claims taken and results written (a file indexed once: finishes 1).
        CREATE SEQUENCE faceapp_album_changes;
        CREATE TABLE faceapp_album_files (
            album bytea NOT NULL, path_tag bytea NOT NULL, size bigint NOT NULL, mtime_ns bigint NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'claimed', 'done', 'skipped', 'gone')),
            claimed_by text, claim_until timestamptz, body bytea, skip_reason text, done_by text,
            claims integer NOT NULL DEFAULT 0, finishes integer NOT NULL DEFAULT 0,
            change bigint NOT NULL DEFAULT 0, seen timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (album, path_tag));
        ALTER TABLE faceapp_album_files ALTER COLUMN body SET STORAGE EXTERNAL;
        CREATE INDEX faceapp_album_files_open ON faceapp_album_files (album) WHERE state IN ('pending', 'claimed');
        CREATE INDEX faceapp_album_files_change ON faceapp_album_files (album, change);
    """),
]
LATEST = MIGRATIONS[-1][0]


def migrate(conn, *, apply: bool = True) -> int:
    """Bring the schema up to LATEST (or, with apply=False, only check it); the version it is at."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS faceapp_schema (version integer PRIMARY KEY, "
                     "description text NOT NULL, applied timestamptz NOT NULL DEFAULT now())")
        current = conn.execute("SELECT coalesce(max(version), 0) FROM faceapp_schema").fetchone()[0]
        if current > LATEST:
            raise StoreRejected(f"the database's schema is at version {current}, newer than this release knows "
                                f"({LATEST}); it was migrated by a newer release, which must be used")
        if current < LATEST and not apply:
            raise StoreRejected(f"the database's schema is at version {current}, not {LATEST}; start the server "
                                f"once to migrate it")
        for version, description, sql in MIGRATIONS:
            if version > current:
                conn.execute(sql)
                conn.execute("INSERT INTO faceapp_schema (version, description) VALUES (%s, %s)",
                             (version, description))
                log.info("database schema migrated to version %d: %s", version, description)
    return LATEST
