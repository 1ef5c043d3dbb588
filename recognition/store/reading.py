"""What every store that keeps its identities in memory (memory.StoreIndex) answers the same way:
readers that never wait for a write's disk or network work."""
from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Optional

from recognition.store.gallery import Gallery
from recognition.store.identity import Identity
from recognition.store.memory import StoreIndex


class MemoryReads:
    secret: bytes
    _index: StoreIndex
    _state: threading.Lock  # held only while memory changes, by readers of whole identities

    def gallery(self, model: str) -> Gallery:
        return self._index.gallery(model)

    def get(self, identity_hash: str) -> Optional[Identity]:
        with self._state:
            return self._index.identity(identity_hash) if identity_hash in self._index.meta else None

    def identities(self) -> list[Identity]:
        with self._state:
            metas = sorted(self._index.meta.values(), key=lambda m: m.created)
            return [self._index.identity(m.hash) for m in metas]

    def summaries(self) -> list[dict]:
        metas = list(self._index.meta.values())  # each Meta is immutable: no lock needed to read it
        return [meta.summary() for meta in sorted(metas, key=lambda m: m.created)]

    def find_by_email_hash(self, email_hash: str) -> Optional[Identity]:
        identity_hash = self._index.emails.get(email_hash)
        return self.get(identity_hash) if identity_hash else None

    def email_hash(self, email: str) -> str:
        normalized = email.strip().lower().encode()
        return hmac.new(self.secret, b"email\0" + normalized, hashlib.sha256).hexdigest()

    def __len__(self) -> int:
        return len(self._index.meta)
