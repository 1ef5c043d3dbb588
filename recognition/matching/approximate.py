"""An approximate nearest-neighbour index of a large gallery's rows (faiss's inverted file), so matching a
face against a million people reads about 2% of them instead of all 512 MB.

The index only proposes rows: search.py scores every proposed row exactly against the gallery, so a
removed person's zeroed rows never match, and thresholds, per-person bars and "not this person" are
applied as in exact search. Rows added since the index was built (its tail) are scored exactly.

An index is built in a background thread over the rows present when it starts, and swapped in whole
when done; readers never wait for it, and use exact search until it is ready. It lives in memory only:
faiss keeps a copy of the vectors, never written to disk.
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


def _faiss():
    import faiss

    faiss.omp_set_num_threads(1)  # one core for a build or a search: recognition and the stream keep the other
    return faiss


class RowIndex:
    """An inverted-file index of rows [0, rows): about 4 sqrt(n) lists found by k-means, a face's
    nearest lists searched. Built once; searched by any number of threads."""

    def __init__(self, vectors: np.ndarray) -> None:
        faiss = _faiss()
        count, dims = vectors.shape
        lists = max(1, int(4 * math.sqrt(count)))
        # Searched lists: measured on random unit vectors (the hardest case: no clusters) with faces at
        # similarities 0.93-0.99 to their row, 1.5% of the lists find every one at a million rows
        # (bench/shared_store_bench.py prints the recall); never fewer than 32.
        self.probes = min(lists, max(32, lists // 64))
        sample = vectors[np.linspace(0, count - 1, min(count, 40 * lists)).astype(np.int64)]
        self._quantizer = faiss.IndexFlatIP(dims)  # held: the index refers to it
        self._index = faiss.IndexIVFFlat(self._quantizer, dims, lists, faiss.METRIC_INNER_PRODUCT)
        self._index.train(np.ascontiguousarray(sample))
        self._index.add(np.ascontiguousarray(vectors))
        self._index.nprobe = self.probes
        self.rows = count

    def propose(self, queries: np.ndarray) -> np.ndarray:
        """(queries, PROPOSED) row numbers, best first; -1 where there are fewer."""
        _, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), min(PROPOSED, self.rows))
        return rows


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
