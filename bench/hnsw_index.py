"""usearch's HNSW graph over a gallery's rows, offering what approximate.RowIndex offers (rows,
propose()), so search.py scores its proposals exactly in the same way. Benchmarks only (ann_bench.py):
docs/benchmarks-index.md says why the server keeps the numpy index. usearch comes from
requirements-bench.txt, which `make bench-ann` installs."""
from __future__ import annotations

import numpy as np
from usearch.index import Index

from recognition.matching.approximate import PROPOSED

# Threads that build the graph: both cores, as numpy's BLAS takes them for the inverted file's k-means.
BUILD_THREADS = 2


class HnswIndex:
    """A graph of rows [0, rows): built once, searched by any number of threads, and able to grow."""

    def __init__(self, vectors: np.ndarray, dtype: str = "f16") -> None:
        # Inner product on unit rows; f16 halves the copy and only orders proposals (they are rescored).
        self._index = Index(ndim=vectors.shape[1], metric="ip", dtype=dtype)
        self.rows = 0
        self.add(vectors)

    def add(self, vectors: np.ndarray) -> None:
        keys = np.arange(self.rows, self.rows + len(vectors), dtype=np.uint64)
        self._index.add(keys, vectors, threads=BUILD_THREADS)
        self.rows += len(vectors)

    def propose(self, queries: np.ndarray) -> list[np.ndarray]:
        found = self._index.search(queries, PROPOSED, threads=1)
        if len(queries) == 1:  # one query gives Matches (its rows found), many give BatchMatches (padded)
            return [np.asarray(found.keys, dtype=np.int64)]
        keys = np.asarray(found.keys, dtype=np.int64)
        return [row[:count] for row, count in zip(keys, found.counts.tolist())]

    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)
