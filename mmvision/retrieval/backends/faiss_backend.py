"""FAISS backends: ``faiss-flat``, ``faiss-ivf`` and ``faiss-hnsw``.

All three use inner product. ``faiss`` is imported when a backend is built,
so this module imports without it. Labels are FAISS ids (``add_with_ids``):
flat indexes are wrapped in ``IndexIDMap`` and IVF indexes take ids natively.
Flat and IVF remove entries with ``remove_ids``; HNSW cannot, so removed
labels stay in its graph as tombstones that the index filters out (and drops
when it rebuilds the backend).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.retrieval.backends import Backend, missing_package

# An IVF list needs this many training points for FAISS's k-means (it warns
# below 39 per centroid).
MIN_POINTS_PER_LIST = 39
MAX_AUTO_NLIST = 65536


def import_faiss() -> Any:
    """The ``faiss`` module, or an ImportError naming the install command."""
    try:
        import faiss
    except ImportError as e:
        raise missing_package("faiss-cpu") from e
    return faiss


class _FaissBackend(Backend):
    """Shared FAISS plumbing: threads, search, save and restore."""

    filters_removed = True
    search_options = frozenset({"threads"})

    def __init__(self, dim: int, **options: Any) -> None:
        super().__init__(dim, **options)
        self._faiss = import_faiss()
        self._index: Any = None
        self._apply_search_options()

    def _apply_search_options(self) -> None:
        # Global to the process: only touched when asked for.
        if self.options.get("threads") is not None and self.options["threads"] > 0:
            self._faiss.omp_set_num_threads(self.options["threads"])

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(vectors, labels.astype(np.int64, copy=False))

    def remove(self, labels: np.ndarray) -> None:
        self._index.remove_ids(labels.astype(np.int64, copy=False))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None or self.ntotal == 0:
            empty = np.full((len(queries), k), -1, np.int64)
            return empty, np.zeros((len(queries), k), np.float32)
        scores, labels = self._index.search(np.ascontiguousarray(queries), k)
        return labels.astype(np.int64, copy=False), scores

    def save(self, path: Path) -> bool:
        if self._index is None:
            return False
        self._faiss.write_index(self._index, str(path))
        return True

    def restore(self, path: Path) -> None:
        self._index = self._faiss.read_index(str(path))
        if self._index.d != self.dim:
            raise ValueError(f"holds {self._index.d}-d vectors, expected {self.dim}")
        self._apply_search_options()


class FaissFlatBackend(_FaissBackend):
    """Exhaustive ``IndexFlatIP`` (exact scores, FAISS's multi-threaded scan)."""

    name = "faiss-flat"
    filename = "faiss.index"
    defaults = {"threads": None}

    def __init__(self, dim: int, **options: Any) -> None:
        super().__init__(dim, **options)
        self._index = self._faiss.IndexIDMap(self._faiss.IndexFlatIP(dim))


class FaissHNSWBackend(_FaissBackend):
    """``IndexHNSWFlat`` graph with ``METRIC_INNER_PRODUCT``.

    Options: ``M`` (graph degree), ``ef_construction``, ``ef_search`` (at
    least ``k`` is used), ``threads``.
    """

    name = "faiss-hnsw"
    filename = "faiss.index"
    filters_removed = False
    defaults = {"M": 32, "ef_construction": 100, "ef_search": 128, "threads": None}
    search_options = frozenset({"ef_search", "threads"})

    def __init__(self, dim: int, **options: Any) -> None:
        super().__init__(dim, **options)
        f = self._faiss
        hnsw = f.IndexHNSWFlat(dim, self.options["M"], f.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.options["ef_construction"]
        self._index = f.IndexIDMap(hnsw)
        self._inner = hnsw
        self._apply_search_options()

    def _apply_search_options(self) -> None:
        super()._apply_search_options()
        if self._index is not None:
            self._inner = self._faiss.downcast_index(self._index.index)
            self._inner.hnsw.efSearch = self.options["ef_search"]

    def remove(self, labels: np.ndarray) -> None:
        """HNSW graphs cannot drop nodes: the labels become tombstones."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # FAISS returns at most about efSearch results: search with >= k.
        self._inner.hnsw.efSearch = max(self.options["ef_search"], k)
        return super().search(queries, k)


class FaissIVFBackend(_FaissBackend):
    """``IndexIVFFlat`` with inner product, trained on the first add.

    Options: ``nlist`` (inverted lists; None = about ``4 * sqrt(N)``),
    ``nprobe`` (lists scanned per query, capped at nlist), ``train_per_list``
    (k-means sample = ``train_per_list * nlist`` vectors), ``seed``, ``threads``.

    With fewer than ``39 * nlist`` vectors at training time, nlist drops to
    ``min(nlist, 4 * sqrt(N), N / 39)``; :meth:`wants_rebuild` asks the index
    to retrain once the data has grown enough to double it.
    """

    name = "faiss-ivf"
    filename = "faiss.index"
    defaults = {
        "nlist": None,
        "nprobe": 32,
        "train_per_list": 40,
        "seed": 0,
        "threads": None,
    }
    search_options = frozenset({"nprobe", "threads"})

    def nlist_for(self, n: int) -> int:
        """The number of lists to train for ``n`` vectors."""
        root = max(1, round(4 * math.sqrt(n)))
        target = self.options["nlist"] or min(root, MAX_AUTO_NLIST)
        if n >= MIN_POINTS_PER_LIST * target:
            return target
        return max(1, min(target, root, n // MIN_POINTS_PER_LIST))

    @property
    def nlist(self) -> int:
        """Lists of the trained index (0 before the first add)."""
        return 0 if self._index is None else int(self._index.nlist)

    def _apply_search_options(self) -> None:
        super()._apply_search_options()
        if self._index is not None:
            self._index.nprobe = min(self.options["nprobe"], self.nlist)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if self._index is None:
            self._train(vectors)
        super().add(labels, vectors)

    def _train(self, vectors: np.ndarray) -> None:
        f = self._faiss
        n = len(vectors)
        nlist = self.nlist_for(n)
        size = min(n, self.options["train_per_list"] * nlist)
        sample = vectors
        if size < n:
            rng = np.random.default_rng(self.options["seed"])
            sample = vectors[np.sort(rng.choice(n, size=size, replace=False))]
        self._quantizer = f.IndexFlatIP(self.dim)
        index = f.IndexIVFFlat(self._quantizer, self.dim, nlist, f.METRIC_INNER_PRODUCT)
        index.cp.seed = self.options["seed"] + 1234
        index.train(np.ascontiguousarray(sample))
        self._index = index
        self._apply_search_options()

    def wants_rebuild(self, n_live: int) -> bool:
        return self._index is not None and self.nlist_for(n_live) >= 2 * self.nlist
