"""The spent ledger of the file store: one-time tags (a challenge's nonce, a burst's digest, a revoked
session id), each remembered until a unix time, in `<data dir>/spent.sealed`.

What it promises (the same as the PostgreSQL ledger, postgres/spent.py):
- `spend` returns only once the tag is on disk (written atomically, fsync'd), so a restart, a crash or
  a kill -9 right after an answer never forgets a tag that answer relied on;
- tags are kept as keyed hashes (HMAC under the installation secret, cut to 16 bytes), never raw: the
  file says nothing of which session or challenge was which; and the whole file is sealed with the store
  key like every `*.sealed` side file, so a key rotation re-seals it (vault.reseal_side_files);
- expired tags are pruned at every write, and the file holds at most `limit` tags: past that, the
  forgettable tags spent longest ago are forgotten first (bursts' digests: forgetting one lets those
  exact frames be tried again, against a fresh challenge), and only then others (a revoked session,
  which would open again; a challenge's nonce, spent last, is never the one dropped), with a warning. So
  whoever floods the ledger with bursts from many addresses cannot push a signed-out session out;
- no silent rollback: the file carries a write count (sealed with it), which the file store keeps in its
  anchor outside the data dir (anchor.py), so an older copy of the ledger, or none, put in its place to
  replay a signed-out cookie or a tried burst, is refused when the store opens.

A whole rewrite per spend is fine at this scale: sign-ins are rate-limited, and 100,000 tags are 2.5 MB.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from recognition.store.atomic import write_atomically
from recognition.store.vault import StoreKey, StoreKeyError, seal, unseal

log = logging.getLogger(__name__)

FILE = "spent.sealed"
MAGIC = b"FACESPT\x03"
COUNT = struct.Struct(">Q")  # the ledger's writes so far, before the records
TAG_BYTES = 16  # of the keyed hash: 128 bits, no collision among any number of tags a server will see
RECORD = struct.Struct(f">{TAG_BYTES}sd?")  # tag hash, until (unix time), forgettable
MAX_TAGS = 100_000  # about 2.5 MB: days of sign-ins at the rate limits' pace, and a write of a few ms


class LedgerDamaged(ValueError):
    """The ledger cannot be read (altered, truncated, or sealed with another key)."""


def tag_hash(secret: bytes, tag: bytes) -> bytes:
    """What a ledger keeps of a tag: a keyed hash, comparable within this installation only."""
    return hmac.new(secret, b"faceapp spent tag\0" + bytes(tag), hashlib.sha256).digest()[:TAG_BYTES]


class SpentFile:
    """sealing() gives the current store key and the installation secret (read when needed, so a store
    that opens its key after building this is fine). limit bounds the file: more tags keep replays out for
    longer, but every spend rewrites them all. Thread-safe; callers hold the store's writer lock around
    spend, so a key rotation never interleaves with a write."""

    def __init__(self, data_dir: Path, sealing: Callable[[], tuple[StoreKey, bytes]], *,
                 limit: int = MAX_TAGS, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(data_dir) / FILE
        self._sealing = sealing
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._tags: Optional[dict[bytes, tuple[float, bool]]] = None  # hash -> (until, forgettable), oldest first
        self._writes = 0  # how many times the file was written: what the anchor holds of it

    def load(self, key: StoreKey, *, set_aside_damaged: bool = True) -> int:
        """Read the file now; its write count (0: none yet). A damaged file is set aside and an empty
        ledger begun, or, without set_aside_damaged, LedgerDamaged (the store then refuses to open: its
        anchor says a ledger was there)."""
        with self._lock:
            self._tags = self._read(key, set_aside_damaged)
            return self._writes

    @property
    def writes(self) -> int:
        return self._writes

    def empty_unread(self) -> None:
        """Take the ledger as empty without touching its file (a read-only store's damaged ledger)."""
        with self._lock:
            self._tags, self._writes = {}, 0

    def renumber(self, key: StoreKey, writes: int) -> None:
        """Write the ledger again with this write count (a restore accepted: the count goes on past what the
        anchor saw, so the older copy now in place can never pass for the newer one)."""
        with self._lock:
            tags = self._loaded(key)
            self._write(key, tags, writes)

    def spend(self, tag: bytes, until: float, *, forgettable: bool = False) -> bool:
        key, secret = self._sealing()
        hashed = tag_hash(secret, tag)
        now = self._clock()
        with self._lock:
            tags = self._loaded(key)
            if tags.get(hashed, (0.0, False))[0] > now:
                return False
            kept = {t: held for t, held in tags.items() if held[0] > now and t != hashed}
            kept[hashed] = (float(until), forgettable)
            if len(kept) > self._limit:
                kept = self._forget(kept, len(kept) - self._limit)
            self._write(key, kept, self._writes + 1)
            self._tags = kept
            return True

    def is_spent(self, tag: bytes) -> bool:
        key, secret = self._sealing()
        with self._lock:
            return self._loaded(key).get(tag_hash(secret, tag), (0.0, False))[0] > self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._tags or {})

    @staticmethod
    def _forget(tags: dict[bytes, tuple[float, bool]], count: int) -> dict[bytes, tuple[float, bool]]:
        """tags without count of them: the forgettable spent longest ago, then the others spent longest ago."""
        forgettable = [t for t, (_, may) in tags.items() if may][:count]
        others = [t for t, (_, may) in tags.items() if not may][: count - len(forgettable)]
        log.warning("the spent ledger is full: forgetting %d burst digests and %d other tags spent longest ago",
                    len(forgettable), len(others))
        if others:
            log.error("the spent ledger holds %d tags that are not bursts' (revoked sessions): the oldest are "
                      "forgotten, and may be accepted again", len(tags) - len(forgettable))
        dropped = set(forgettable) | set(others)
        return {t: held for t, held in tags.items() if t not in dropped}

    def _write(self, key: StoreKey, tags: dict[bytes, tuple[float, bool]], writes: int) -> None:
        payload = COUNT.pack(writes) + b"".join(RECORD.pack(t, u, may) for t, (u, may) in tags.items())
        write_atomically(self.path, seal(key, MAGIC, payload))
        self._writes = writes

    def _loaded(self, key: StoreKey) -> dict[bytes, tuple[float, bool]]:
        if self._tags is None:
            self._tags = self._read(key, True)
        return self._tags

    def _read(self, key: StoreKey, set_aside_damaged: bool) -> dict[bytes, tuple[float, bool]]:
        self._writes = 0
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            plain = unseal([key], MAGIC, blob, str(self.path))
            if len(plain) < COUNT.size or (len(plain) - COUNT.size) % RECORD.size:
                raise ValueError(f"{self.path} holds a partial record")
            tags = {t: (u, may) for t, u, may in RECORD.iter_unpack(plain[COUNT.size:])}
            self._writes = COUNT.unpack_from(plain)[0]
            return tags
        except (ValueError, StoreKeyError) as exc:
            if not set_aside_damaged:
                raise LedgerDamaged(str(exc)) from None
            # Refusing every sign-in until someone repairs it would lock everyone out; starting afresh
            # forgets tags that mostly expire within minutes. Kept aside (not *.sealed) for a look.
            aside = self.path.with_name(f"{FILE}.unreadable-{int(time.time())}")
            self.path.replace(aside)
            log.error("%s; set aside as %s and started an empty spent ledger (challenges tried and sessions "
                      "signed out before this may be accepted again until they expire)", exc, aside.name)
            return {}
