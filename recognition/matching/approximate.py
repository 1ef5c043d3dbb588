"""An approximate nearest-neighbour index of a large gallery's rows (an inverted file: the rows grouped
by their nearest of about 2 sqrt(n) k-means centres), so matching a face against a million people
reads about 2% of them instead of all 512 MB.

The index only proposes rows: search.py scores every proposed row exactly against the gallery, so a
removed person's zeroed rows never match, and thresholds, per-person bars and "not this person" are
applied as in exact search. Rows added since the index was built (its tail) are scored exactly.

An index is built in a background thread over the rows present when it starts, and swapped in whole
when done; readers never wait for it, and use exact search until it is ready. It lives in memory only
(it keeps a copy of the rows, grouped by list), never written to disk. It is plain numpy: faiss's
inverted file was tried first, and its process died once in the benchmark (a segfault in faiss's
bundled OpenBLAS) while an index was built beside searches in other threads, as a server does.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

# Below this many rows exact search is cheap (50k rows: about 1.5 ms a face) and needs no index.
APPROXIMATE_FROM = 50_000
# Rows proposed per face: a person's several vectors and their look-alikes fit many times over (a
# face reaching the threshold with more than a few people is rare), and scoring 32 rows costs microseconds.
PROPOSED = 32
# The index is rebuilt once the rows added since (scored exactly) are this share of those it covers:
# at a million, 62k rows, about 1.5 ms of exact search a face.
TAIL_SHARE = 1 / 16
TRAINING_ROUNDS = 6  # k-means rounds on the sample: the lists need to be even, not optimal
BLOCK_ROWS = 32768  # rows assigned to lists at once (a 32k x 2k score matrix: 256 MB)


class RowIndex:
    """An inverted file of rows [0, rows), built once, then searched by any number of threads."""

    def __init__(self, vectors: np.ndarray, seed: int = 0) -> None:
        count = len(vectors)
        lists = max(1, int(2 * math.sqrt(count)))
        # Lists searched per face: measured on random unit vectors (the hardest case: no clusters) with
        # faces at similarities 0.93-0.99 to their row, 2.4% of the lists found 99.95% of them at a
        # million rows (bench/shared_store_bench.py prints the recall at each size); never fewer than 32.
        self.probes = min(lists, max(32, int(lists * 0.024)))
        self.centres = self._train(vectors, lists, np.random.default_rng(seed))
        nearest = np.empty(count, dtype=np.int64)
        for start in range(0, count, BLOCK_ROWS):
            block = vectors[start : start + BLOCK_ROWS]
            nearest[start : start + BLOCK_ROWS] = np.argmax(block @ self.centres.T, axis=1)
        self._order = np.argsort(nearest, kind="stable")  # position in the grouped copy -> gallery row
        self._grouped = vectors[self._order]
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(nearest, minlength=lists))])
        self.rows = count

    @staticmethod
    def _train(vectors: np.ndarray, lists: int, rng) -> np.ndarray:
        """Spherical k-means on an even sample of the rows (20 per list)."""
        sample = vectors[np.linspace(0, len(vectors) - 1, min(len(vectors), 20 * lists)).astype(np.int64)]
        centres = sample[rng.choice(len(sample), lists, replace=False)].copy()
        for _ in range(TRAINING_ROUNDS):
            nearest = np.concatenate([np.argmax(sample[s : s + BLOCK_ROWS] @ centres.T, axis=1)
                                      for s in range(0, len(sample), BLOCK_ROWS)])
            sums = np.zeros_like(centres)
            np.add.at(sums, nearest, sample)
            empty = np.bincount(nearest, minlength=lists) == 0
            sums[empty] = centres[empty]  # a list nobody chose keeps its centre
            centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return centres.astype(np.float32)

    def propose(self, queries: np.ndarray) -> list[np.ndarray]:
        """For each query, the gallery rows (up to PROPOSED) closest to it among its nearest lists'."""
        proposals = []
        for query, centre_scores in zip(queries, queries @ self.centres.T):
            chosen = np.argpartition(-centre_scores, self.probes - 1)[: self.probes]
            starts = self._starts[chosen]
            ends = self._starts[chosen + 1]
            # Each list is a contiguous run of the grouped copy: scored in place, never gathered (a copy of
            # 24k rows would cost more than scoring them).
            scores = np.concatenate([self._grouped[a:b] @ query for a, b in zip(starts.tolist(), ends.tolist())])
            keep = min(PROPOSED, len(scores))
            picks = np.argpartition(-scores, keep - 1)[:keep] if keep else np.zeros(0, dtype=np.int64)
            ends_in_scores = np.cumsum(ends - starts)
            which = np.searchsorted(ends_in_scores, picks, side="right")  # the chosen list each pick is in
            best = starts[which] + picks - (ends_in_scores[which] - (ends - starts)[which])
            proposals.append(self._order[best])
        return proposals


class IndexSlot:
    """The index of one numbering of a gallery's rows (a compaction renumbers them and starts a new slot).
    The writer calls consider() on every publish; a build runs in a thread of its own, one at a time."""

    def __init__(self, approximate_from: int = APPROXIMATE_FROM) -> None:
        self.approximate_from = approximate_from
        self.ready: Optional[RowIndex] = None
        self._building = False
        self._lock = threading.Lock()

    def consider(self, rows: np.ndarray) -> None:
        """rows: the gallery as just published (rows of it never move; a removal only zeroes them)."""
        if not self.covers(len(rows)):
            with self._lock:
                if self._building:
                    return
                self._building = True
            threading.Thread(target=self._build, args=(rows,), name="approximate-index", daemon=True).start()

    def covers(self, count: int) -> bool:
        """Whether matching a gallery of count rows uses an index as fresh as it is meant to be."""
        return count < self.approximate_from or not self._due(count)

    def _due(self, count: int) -> bool:
        ready = self.ready
        return ready is None or count - ready.rows > ready.rows * TAIL_SHARE

    def _build(self, rows: np.ndarray) -> None:
        started = time.monotonic()
        try:
            self.ready = RowIndex(rows)
            log.info("approximate index of %d rows built in %.1f s", len(rows), time.monotonic() - started)
        except Exception:  # matching goes on exactly; the next publish tries again
            log.exception("could not build the approximate index; matching stays exact")
        finally:
            with self._lock:
                self._building = False
