"""Exact nearest-neighbour search of a gallery snapshot: who each query is at least `threshold` close to.

The product of queries and gallery rows is taken in blocks, so a million rows never make a million-
wide score matrix per query, and only blocks where some query reaches the threshold are looked into.
"""
from __future__ import annotations

import numpy as np

from recognition.store.gallery import Gallery

BLOCK_CELLS = 1 << 22  # scores computed at once (16 MB of float32)
FEW_QUERIES = 4  # up to this many, one matrix-vector product each beats one small-matrix product


def candidates(gallery: Gallery, queries: np.ndarray, threshold: float) -> list[dict[int, float]]:
    """For each query, {member slot: best similarity} over the members it reaches threshold with, leaving
    out members it is at least as close to a face marked "not this person" for as to the member."""
    found: list[dict[int, float]] = [{} for _ in range(len(queries))]
    if len(queries) == 0 or gallery.empty:
        return found
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    step = max(1024, BLOCK_CELLS // len(queries))
    for start in range(0, len(gallery.vectors), step):
        rows = gallery.vectors[start : start + step]
        if len(queries) <= FEW_QUERIES:
            block = np.column_stack([rows @ query for query in queries])  # (rows, queries)
        else:
            block = rows @ queries.T
        for query in np.nonzero(block.max(axis=0) >= threshold)[0]:
            best = found[query]
            for row in np.nonzero(block[:, query] >= threshold)[0]:
                slot, score = int(gallery.owners[start + row]), float(block[row, query])
                if score > best.get(slot, -2.0):
                    best[slot] = score
    if len(gallery.rejections):
        for query, best in enumerate(found):
            _drop_rejected(gallery, queries[query], best)
    return found


def _drop_rejected(gallery: Gallery, query: np.ndarray, best: dict[int, float]) -> None:
    if not best:
        return
    mine = np.isin(gallery.rejection_owners, list(best))
    if not mine.any():
        return
    scores = gallery.rejections[mine] @ query
    for slot, score in zip(gallery.rejection_owners[mine].tolist(), scores.tolist()):
        if slot in best and score >= best[slot]:
            del best[slot]
