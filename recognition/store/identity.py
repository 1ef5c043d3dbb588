"""One known person as the store keeps them: vectors and a few labels, never a picture."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Identity:
    hash: str  # SHA-256 identity hash, stable for the life of the identity
    model: str  # the embedding model its vectors come from; never compared across models
    embeddings: tuple[np.ndarray, ...]  # unit vectors of this person
    name: Optional[str] = None
    created: float = field(default_factory=time.time)
    email_hash: Optional[str] = None  # keyed hash of the email it registered with; the email is never kept
    rejections: tuple[np.ndarray, ...] = ()  # faces an operator said are "not this person"
    attributes: Optional[str] = None  # age, gender and emotion at registration, as JSON (--attributes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "embeddings", tuple(np.asarray(e, dtype=np.float32) for e in self.embeddings))
        object.__setattr__(self, "rejections", tuple(np.asarray(e, dtype=np.float32) for e in self.rejections))

    def summary(self) -> dict:
        """The public view: no vectors, no email hash."""
        return {
            "hash": self.hash,
            "name": self.name,
            "model": self.model,
            "created": self.created,
            "vectors": len(self.embeddings),
            "registered": self.email_hash is not None,
            "attributes": json.loads(self.attributes) if self.attributes else None,
        }
