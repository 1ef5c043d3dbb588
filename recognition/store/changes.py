"""The changes to one identity every backend makes the same way: the new identity is worked out from
memory, and the backend's _change() makes the rewrite of the records holding it durable before show()
puts it in memory."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

import numpy as np

from recognition.store.identity import Identity
from recognition.store.memory import StoreIndex


class IdentityChanges:
    _index: StoreIndex

    def _change(self, identity_hash: str, change: Callable[[Identity], Optional[Identity]],
                show: Callable[[], None]) -> Identity:
        raise NotImplementedError

    def rename(self, identity_hash: str, name: Optional[str]) -> Identity:
        return self._change(identity_hash, lambda identity: replace(identity, name=name),
                            lambda: self._index.rename(identity_hash, name))

    def add_vectors(self, identity_hash: str, embeddings: np.ndarray) -> Identity:
        rows = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        return self._change(identity_hash, lambda i: replace(i, embeddings=i.embeddings + tuple(rows)),
                            lambda: self._index.add_vectors(identity_hash, rows))

    def add_rejection(self, identity_hash: str, embedding: np.ndarray) -> Identity:
        vector = np.asarray(embedding, dtype=np.float32)
        return self._change(identity_hash, lambda i: replace(i, rejections=i.rejections + (vector,)),
                            lambda: self._index.add_rejection(identity_hash, vector))

    def remove(self, identity_hash: str) -> Identity:
        return self._change(identity_hash, lambda identity: None, lambda: self._index.forget(identity_hash))
