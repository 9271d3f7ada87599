"""Search backends for :class:`mmvision.retrieval.index.VectorIndex`.

A backend only answers "which labels are nearest to these queries by inner
product"; the index owns the ids, the stored vectors, removal bookkeeping and
exact re-scoring. Labels are int64 numbers the index hands out (never reused),
so a backend never sees string ids.

Backends are looked up by name with :func:`get_backend`; the modules that need
``faiss`` or ``hnswlib`` import them only when a backend is constructed.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

ANN_QUERY_BLOCK = 1024

HEADER = "header.json"

BACKENDS = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw", "hnswlib")

_CLASSES = {
    "exact": ("exact", "ExactBackend"),
    "faiss-flat": ("faiss_backend", "FaissFlatBackend"),
    "faiss-ivf": ("faiss_backend", "FaissIVFBackend"),
    "faiss-hnsw": ("faiss_backend", "FaissHNSWBackend"),
    "hnswlib": ("hnswlib_backend", "HnswlibBackend"),
}

# Options every backend accepts: they drive the index's own exact passes
# (exact search, ``scores``, the exact fallback of ANN searches) and rebuilds.
COMMON_DEFAULTS: dict[str, Any] = {
    "chunk_rows": 65536,
    "query_chunk": 0,
    "rebuild_fraction": 0.5,
}
COMMON_SEARCH_OPTIONS = frozenset({"chunk_rows", "query_chunk", "rebuild_fraction"})

# Smallest accepted value of each integer option (None allowed where noted).
_INT_MIN = {
    "chunk_rows": 1,
    "query_chunk": 0,
    "nlist": 1,
    "nprobe": 1,
    "train_per_list": 1,
    "M": 2,
    "ef_construction": 1,
    "ef_search": 1,
    "threads": -1,
    "seed": 0,
}
_NONE_OK = {"nlist", "threads"}


class IndexFileError(ValueError):
    """A saved index is missing, damaged or not the one asked for.

    Attributes:
        path: The offending file or directory.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


class HashingFile:
    """Wraps a binary file; hashes every byte read or written."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.fh.write(data)

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data


def save_npy(path: Path, array: np.ndarray) -> str:
    """Writes ``array`` with ``np.save``; returns the file's sha256."""
    with open(path, "wb") as fh:
        out = HashingFile(fh)
        np.save(out, array, allow_pickle=False)
    return out.sha.hexdigest()


def file_sha(path: Path) -> tuple[str, int]:
    """The sha256 and size in bytes of a file."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            sha.update(block)
    return sha.hexdigest(), path.stat().st_size


def mismatch(path: Path) -> IndexFileError:
    """The error for a file whose checksum differs from the header's."""
    return IndexFileError(
        path, f"checksum differs from {HEADER} (the file is corrupted or replaced)"
    )


def load_npy(path: Path, sha: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Reads a ``.npy`` file in one pass, checking its sha256, dtype and shape.

    Raises:
        IndexFileError: Missing, truncated, corrupted or mis-shaped (named).
    """
    if not path.is_file():
        raise IndexFileError(path, "missing")
    try:
        with open(path, "rb") as fh:
            src = HashingFile(fh)
            array = np.lib.format.read_array(src, allow_pickle=False)
            src.read()
    except (ValueError, OSError, EOFError) as e:
        raise IndexFileError(path, f"truncated or unreadable ({e})") from e
    if src.sha.hexdigest() != sha:
        raise mismatch(path)
    if array.dtype != dtype or array.shape != shape:
        raise IndexFileError(
            path, f"holds {array.dtype} {array.shape}, {HEADER} says {shape}"
        )
    return array


def missing_package(package: str) -> ImportError:
    """The error raised when an optional ANN package is not installed."""
    return ImportError(
        f"the {package!r} package is needed for this index backend; "
        f"install it with: pip install 'mmvision[ann]'"
    )


def get_backend(name: str) -> type[Backend]:
    """The backend class called ``name``.

    Args:
        name: One of :data:`BACKENDS`.

    Returns:
        The backend class (its optional package is not imported yet).

    Raises:
        ValueError: ``name`` is not a known backend; the message lists them.
    """
    if name not in _CLASSES:
        raise ValueError(
            f"unknown index backend {name!r}; choose one of: {', '.join(BACKENDS)}"
        )
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def _check_option(backend: str, key: str, value: Any) -> Any:
    if key == "rebuild_fraction":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{backend}: option rebuild_fraction must be a number")
        if not 0.0 < float(value) <= 1.0:
            raise ValueError(f"{backend}: option rebuild_fraction must be in (0, 1]")
        return float(value)
    if value is None and key in _NONE_OK:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{backend}: option {key} must be an integer, got {value!r}")
    if value < _INT_MIN.get(key, 0):
        raise ValueError(f"{backend}: option {key} must be >= {_INT_MIN[key]}")
    return int(value)


class Backend:
    """Base class: option handling and the interface every backend implements.

    Attributes:
        name: The backend's name in :data:`BACKENDS`.
        filename: The backend's own file inside a saved index directory, or None.
        exact: True if the index should run its own exact search instead.
        filters_removed: True if ``search`` never returns removed labels.
        defaults: Backend-specific option defaults.
        search_options: Options that may change after construction.
        dim: Vector dimension.
        options: All resolved options (JSON-serialisable).
    """

    name: ClassVar[str] = ""
    filename: ClassVar[str | None] = None
    exact: ClassVar[bool] = False
    filters_removed: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}
    search_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, dim: int, **options: Any) -> None:
        """Resolves ``options`` against the defaults.

        Args:
            dim: Vector dimension.
            **options: Backend options; see each backend's ``defaults``.

        Raises:
            ValueError: An unknown option or a bad value.
        """
        self.dim = dim
        allowed = {**COMMON_DEFAULTS, **self.defaults}
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for backend {self.name!r}; "
                f"accepted: {', '.join(sorted(allowed))}"
            )
        self.options = {
            k: _check_option(self.name, k, options.get(k, v))
            for k, v in allowed.items()
        }

    def configure(self, **options: Any) -> None:
        """Changes search-time options (e.g. ``nprobe``, ``ef_search``).

        Raises:
            ValueError: An option that is unknown or fixed at build time.
        """
        changeable = COMMON_SEARCH_OPTIONS | self.search_options
        for key, value in options.items():
            if key not in changeable:
                raise ValueError(
                    f"option {key!r} of backend {self.name!r} cannot change after "
                    f"construction; changeable: {', '.join(sorted(changeable))}"
                )
            self.options[key] = _check_option(self.name, key, value)
        self._apply_search_options()

    def _apply_search_options(self) -> None:
        """Pushes search-time options into the underlying library index."""

    @property
    def ntotal(self) -> int:
        """Entries held by the backend, including removed-but-present ones."""
        return 0

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Adds float32 ``vectors`` [n, dim] under int64 ``labels`` [n]."""
        raise NotImplementedError

    def remove(self, labels: np.ndarray) -> None:
        """Removes ``labels`` (or leaves tombstones if ``filters_removed`` is
        False; the index then filters them out of results)."""
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` labels [Q, k] (int64, -1 = none) with the highest inner
        product with each query, and those scores [Q, k]."""
        raise NotImplementedError

    def wants_rebuild(self, n_live: int) -> bool:
        """True if the index should rebuild this backend from its vectors."""
        return False

    def save(self, path: Path) -> bool:
        """Writes the backend's file to ``path``; False if there is nothing."""
        return False

    def restore(self, path: Path) -> None:
        """Reads the backend's file written by :meth:`save`."""
        raise NotImplementedError


def approx_search(
    backend: Backend,
    queries: np.ndarray,
    k: int,
    farthest: bool,
    vectors: np.ndarray,
    label_row: np.ndarray,
    n_live: int,
    exact: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows from an ANN backend, in the exact backend's layout.

    Candidates are re-scored exactly from the stored ``vectors`` and sorted
    best-first (``farthest``: the backend is asked for the nearest to ``-q``,
    results are lowest first). Removed labels (``label_row == -1``) are
    dropped; a backend that keeps tombstones is over-fetched (doubling until
    ``k`` live results); queries it cannot fill go to ``exact``.

    Args:
        backend: The ANN backend.
        queries: [Q, dim] float32.
        k: Results per query, at most ``n_live``.
        farthest: Lowest scores instead of highest.
        vectors: The index's vector store (row-indexed).
        label_row: Label -> store row, -1 for removed labels.
        n_live: Live items in the index.
        exact: Exact search of a query subset -> (rows, scores).

    Returns:
        Store rows [Q, k] (int64) and exact scores [Q, k] (float32).
    """
    cap = n_live if backend.filters_removed else backend.ntotal
    fetch0 = k
    if not backend.filters_removed and backend.ntotal > n_live:
        fetch0 = math.ceil(1.5 * k * backend.ntotal / n_live) + 4
    out_rows = np.empty((len(queries), k), np.int64)
    out_sc = np.empty((len(queries), k), np.float32)
    for b0 in range(0, len(queries), ANN_QUERY_BLOCK):
        todo = np.arange(b0, min(b0 + ANN_QUERY_BLOCK, len(queries)))
        fetch = fetch0
        while len(todo):
            if fetch >= cap:
                out_rows[todo], out_sc[todo] = exact(queries[todo])
                break
            q = queries[todo]
            labels, _ = backend.search(-q if farthest else q, fetch)
            ok = (labels >= 0) & (labels < len(label_row))
            rows = np.where(ok, label_row[np.where(ok, labels, 0)], -1)
            got = rows >= 0
            full = got.sum(axis=1) >= k
            if full.any():
                sel, r = todo[full], rows[full]
                s = np.einsum("qd,qfd->qf", q[full], vectors[np.maximum(r, 0)])
                key = np.where(got[full], s if farthest else -s, np.inf)
                order = np.argsort(key, axis=1, kind="stable")[:, :k]
                out_rows[sel] = np.take_along_axis(r, order, 1)
                out_sc[sel] = np.take_along_axis(s, order, 1)
            todo, fetch = todo[~full], min(cap, fetch * 2)
    return out_rows, out_sc
