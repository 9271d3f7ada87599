"""The ``hnswlib`` backend: an HNSW graph in inner-product space ("ip").

``hnswlib`` is imported when the backend is built. The graph grows with
``resize_index`` as vectors are added; removal uses ``mark_deleted``, which
hnswlib itself keeps out of results (the nodes stay in the graph until the
index rebuilds the backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmvision.retrieval.backends import Backend, missing_package

GROWTH = 1.25


def import_hnswlib() -> Any:
    """The ``hnswlib`` module, or an ImportError naming the install command."""
    try:
        import hnswlib
    except ImportError as e:
        raise missing_package("hnswlib") from e
    return hnswlib


class HnswlibBackend(Backend):
    """HNSW graph from ``hnswlib`` with inner-product scores.

    Options: ``M`` (graph degree), ``ef_construction``, ``ef_search`` (at
    least ``k`` is used), ``threads`` (-1 = all cores), ``seed``.
    """

    name = "hnswlib"
    filename = "hnswlib.bin"
    filters_removed = True
    defaults = {
        "M": 32,
        "ef_construction": 100,
        "ef_search": 128,
        "threads": -1,
        "seed": 100,
    }
    search_options = frozenset({"ef_search", "threads"})

    def __init__(self, dim: int, **options: Any) -> None:
        super().__init__(dim, **options)
        self._hnswlib = import_hnswlib()
        self._index: Any = None

    @property
    def _threads(self) -> int:
        t = self.options["threads"]
        return -1 if t is None or t == 0 else t

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.get_current_count())

    def _new_index(self, capacity: int) -> Any:
        index = self._hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=capacity,
            ef_construction=self.options["ef_construction"],
            M=self.options["M"],
            random_seed=self.options["seed"],
        )
        return index

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        needed = self.ntotal + len(labels)
        if self._index is None:
            self._index = self._new_index(max(needed, 1))
        elif needed > self._index.get_max_elements():
            grown = int(self._index.get_max_elements() * GROWTH) + 1
            self._index.resize_index(max(needed, grown))
        self._index.add_items(
            vectors, labels.astype(np.uint64), num_threads=self._threads
        )

    def remove(self, labels: np.ndarray) -> None:
        for label in labels.tolist():
            self._index.mark_deleted(label)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n_q = len(queries)
        labels = np.full((n_q, k), -1, np.int64)
        scores = np.zeros((n_q, k), np.float32)
        if self._index is None or n_q == 0:
            return labels, scores
        self._index.set_ef(max(self.options["ef_search"], k))
        try:
            found, dist = self._index.knn_query(queries, k, num_threads=self._threads)
        except RuntimeError:
            # Fewer than k reachable live nodes for some query: go one by one
            # and leave -1 where hnswlib gives up (the index falls back to an
            # exact search for those queries).
            for i in range(n_q):
                try:
                    f, d = self._index.knn_query(queries[i : i + 1], k, num_threads=1)
                except RuntimeError:
                    continue
                labels[i], scores[i] = f[0].astype(np.int64), 1.0 - d[0]
            return labels, scores
        return found.astype(np.int64), (1.0 - dist).astype(np.float32)

    def save(self, path: Path) -> bool:
        if self._index is None:
            return False
        self._index.save_index(str(path))
        return True

    def restore(self, path: Path) -> None:
        index = self._hnswlib.Index(space="ip", dim=self.dim)
        index.load_index(str(path))
        if index.dim != self.dim:
            raise ValueError(f"holds {index.dim}-d vectors, expected {self.dim}")
        self._index = index
