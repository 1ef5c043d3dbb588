"""Age, gender and emotion of faces (--attributes), estimated in the model process."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from recognition.faces import Box
from recognition.pipeline.analyzer import FaceAnalyzer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceAttributes:
    """enabled: --attributes. Each estimate costs a model call per face, so it is off by default."""

    analyzer: FaceAnalyzer
    enabled: bool = False

    def of(self, image: np.ndarray, boxes: Sequence[Box]) -> list[dict]:
        """Each face's age, gender and emotion as JSON; empty dicts when off. Attributes are extra: when
        the model cannot estimate them, each face says why instead and the answer goes out."""
        if not self.enabled or not boxes:
            return [{} for _ in boxes]
        from recognition.models.attributes import attribute_chips

        try:
            found = self.analyzer.embedder.attributes(attribute_chips(self.analyzer.aligner, image, list(boxes)))
        except Exception as exc:
            log.warning("age, gender and emotion not estimated: %s", exc)
            return [{"attributes_error": str(exc)[:200]} for _ in boxes]
        return [attributes.to_json() for attributes in found]
