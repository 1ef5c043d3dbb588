"""Nearest-neighbour search of a gallery snapshot: who each query is at least `threshold` close to.

Small galleries are searched exactly: every row is scored, in blocks, so a batch of a thousand queries
against many rows never makes a thousand-by-million matrix, and only the queries that reach the
threshold somewhere are looked into. A large one, once its approximate index is ready
(approximate.py), has each query's proposed rows scored exactly, plus every row added since the index
was built; a stranger is never named by the index, since every score is exact.
"""
from __future__ import annotations

import numpy as np

from recognition.store.gallery import Gallery

BLOCK_CELLS = 1 << 22  # scores computed at once for many queries (16 MB of float32)
FEW_QUERIES = 4  # up to this many (the faces of one frame), matrix-vector products beat a small matrix product
CACHED_ROWS = 2048  # rows read from memory once and scored against every query while in the CPU cache


def candidates(gallery: Gallery, queries: np.ndarray, threshold: float, *,
               approximate: bool = True) -> list[dict[int, float]]:
    """For each query, {member slot: best similarity} over the members it reaches threshold with, leaving
    out members it is at least as close to a face marked "not this person" for as to the member.
    approximate=False scores every row, even where an index is ready (the baseline it is measured by)."""
    found: list[dict[int, float]] = [{} for _ in range(len(queries))]
    if len(queries) == 0 or gallery.empty:
        return found
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index = gallery.approximate.ready if approximate and gallery.approximate is not None else None
    covered = min(index.rows, len(gallery.vectors)) if index is not None else 0
    if covered and index is not None:  # covered is 0 without an index
        for query, rows in enumerate(index.propose(queries)):
            rows = rows[rows < covered]
            _keep(found[query], gallery.owners[rows], gallery.vectors[rows] @ queries[query], threshold)
    tail = gallery.vectors[covered:] if covered < len(gallery.vectors) else None  # rows the index does not cover
    for start, block in _score_blocks(tail, queries) if tail is not None else ():
        for query in np.nonzero(block.max(axis=1) >= threshold)[0].tolist():
            rows = np.nonzero(block[query] >= threshold)[0]
            _keep(found[query], gallery.owners[covered + start + rows], block[query, rows], threshold)
    if len(gallery.rejections):
        for query, best in enumerate(found):
            _drop_rejected(gallery, queries[query], best)
    return found


def _keep(best: dict[int, float], owners: np.ndarray, scores: np.ndarray, threshold: float) -> None:
    """Note each owner's best score at or above threshold."""
    for slot, score in zip(owners.tolist(), scores.tolist()):
        if score >= threshold and score > best.get(slot, -2.0):
            best[slot] = score


def _score_blocks(vectors: np.ndarray, queries: np.ndarray):
    """(first row, (queries, rows) similarities) over the gallery. Scoring is bound by memory, not
    arithmetic (a million 128-d rows are 512 MB), so the rows are read as few times as possible."""
    count = len(queries)
    if count == 1:
        yield 0, (vectors @ queries[0])[np.newaxis, :]
    elif count <= FEW_QUERIES:
        scores = np.empty((count, len(vectors)), dtype=np.float32)
        for start in range(0, len(vectors), CACHED_ROWS):
            rows = vectors[start : start + CACHED_ROWS]
            for index, query in enumerate(queries):
                np.matmul(rows, query, out=scores[index, start : start + len(rows)])
        yield 0, scores
    else:
        step = max(1024, BLOCK_CELLS // count)
        for start in range(0, len(vectors), step):
            yield start, queries @ vectors[start : start + step].T


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
