"""A vector index over string ids: exact or approximate (FAISS, hnswlib) search.

Vectors are float32 and L2-normalised by the caller, so scores are inner
products (= cosine similarity). The index keeps its own copy of every vector
(for :meth:`VectorIndex.vectors`, :meth:`VectorIndex.scores`, exact re-scoring
of approximate results and rebuilds); the backend only finds candidates.

A saved index is a directory, written atomically::

    header.json   format, version, backend, options, fingerprint, dim, count,
                  next_label, checksums/sizes of the files below
    vectors.npy   [count, dim] float32, in insertion order
    ids.json      the ids, same order
    labels.npy    [count] int64: each item's label inside the backend file
    <backend>     faiss.index / hnswlib.bin (absent for "exact"), so loading
                  does not rebuild the graph or retrain the lists
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.retrieval.backends import (
    BACKENDS,
    HEADER,
    IndexFileError,
    approx_search,
    file_sha,
    get_backend,
    mismatch,
)
from mmvision.retrieval.backends.exact import IDS, LABELS, VECTORS, VectorStore
from mmvision.utils import atomic_path

__all__ = ["BACKENDS", "IndexFileError", "VectorIndex"]

FORMAT = "mmvision-vector-index"
VERSION = 1


class VectorIndex:
    """Ids mapped to unit vectors, searchable by inner product.

    Args:
        dim: Vector dimension.
        backend: One of :data:`BACKENDS` (default ``"exact"``).
        fingerprint: Free text naming what the vectors are (e.g. the encoder
            and its config); checked by :meth:`load`.
        **options: Backend options (``nlist``, ``nprobe``, ``train_per_list``,
            ``M``, ``ef_construction``, ``ef_search``, ``threads``, ``seed``)
            and the common ``chunk_rows``, ``query_chunk``, ``rebuild_fraction``.

    Raises:
        ValueError: Unknown backend (the message lists :data:`BACKENDS`) or an
            unknown/bad option.
        ImportError: The backend's package is missing.
    """

    def __init__(
        self, dim: int, backend: str = "exact", fingerprint: str = "", **options: Any
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self._backend = get_backend(backend)(dim, **options)
        self.dim, self.backend, self.fingerprint = dim, backend, str(fingerprint)
        self._store = VectorStore(dim)

    @property
    def options(self) -> dict[str, Any]:
        """The resolved backend options."""
        return dict(self._backend.options)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._store.row_of

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, backend={self.backend!r}, n={len(self)})"

    @property
    def ids(self) -> list[str]:
        """Current ids in insertion order."""
        return [i for i in self._store.row_ids if i is not None]

    def _check_vectors(self, x: Any, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{what} must be [n, {self.dim}], got {x.shape}")
        for r0 in range(0, len(x), 65536):
            bad = ~np.isfinite(x[r0 : r0 + 65536]).all(axis=1)
            if bad.any():
                raise ValueError(f"{what} row {r0 + int(np.argmax(bad))} is not finite")
        return np.ascontiguousarray(x)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Adds items; the vectors already indexed are left as they are.

        Args:
            ids: New, unique string ids.
            vectors: [len(ids), dim] (or [dim] for one id) float32 unit rows.

        Raises:
            ValueError: A duplicate id (named), a shape/dim mismatch, NaN/inf.
            TypeError: An id that is not a string.
        """
        ids = list(ids)
        x = self._check_vectors(vectors, "vectors")
        if len(x) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(x)} vectors")
        seen: set[str] = set()
        for i in ids:
            if not isinstance(i, str):
                raise TypeError(f"ids must be strings, got {i!r}")
            if i in seen or i in self._store.row_of:
                where = "given twice" if i in seen else "already in the index"
                raise ValueError(f"duplicate id {i!r} ({where})")
            seen.add(i)
        if not ids:
            return
        labels = self._store.new_labels(len(ids))
        self._backend.add(labels, x)
        self._store.append(ids, x, labels)
        if self._backend.wants_rebuild(len(self)):
            self.rebuild()

    def remove(self, ids: Sequence[str]) -> None:
        """Removes items; they are never returned again.

        Raises:
            KeyError: An id that is not in the index (named).
            ValueError: An id listed twice.
        """
        ids = list(ids)
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"id {dup!r} is listed twice")
        rows = self._store.rows(ids)
        if not ids:
            return
        self._backend.remove(self._store.labels[rows])
        self._store.remove(ids, rows)
        dead, total = self._backend.ntotal - len(self), self._backend.ntotal
        if dead > 0 and dead > self._backend.options["rebuild_fraction"] * total:
            self.rebuild()

    def rebuild(self) -> None:
        """Rebuilds the backend from the stored vectors (drops tombstones,
        retrains IVF lists for the current size); labels are kept."""
        self._store.compact()
        fresh = type(self._backend)(self.dim, **self._backend.options)
        if len(self):
            fresh.add(self._store.labels[: len(self)], self._store.live())
        self._backend = fresh

    def configure(self, **options: Any) -> None:
        """Changes search-time options (``nprobe``, ``ef_search``, ``threads``,
        ``chunk_rows``, ``query_chunk``, ``rebuild_fraction``)."""
        self._backend.configure(**options)

    def vectors(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """Stored vectors [n, dim] of ``ids`` (default: all, in ``ids`` order).

        Raises:
            KeyError: An unknown id (named).
        """
        if ids is None:
            return self._store.live().copy()
        return self._store.vecs[self._store.rows(list(ids))]

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Exact inner products [len(self)] of one query [dim] with every item,
        in ``ids`` order (computed in chunks of ``chunk_rows``)."""
        q = self._check_vectors(query, "query")
        if len(q) != 1:
            raise ValueError(f"scores takes one query [{self.dim}], got {q.shape}")
        return self._store.scores(q[0], self._backend.options["chunk_rows"])

    def search(
        self, queries: np.ndarray, k: int, farthest: bool = False
    ) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` best items per query by inner product.

        Args:
            queries: [Q, dim] or [dim] (treated as Q = 1).
            k: Results per query (>= 1); more than ``len(self)`` returns all.
            farthest: If True, the ``k`` lowest scores, lowest first.

        Returns:
            Per query the ids best-first (``farthest``: lowest first), and
            their exact scores [Q, min(k, len(self))] float32.

        Raises:
            ValueError: Bad ``k``, query shape or non-finite values.
        """
        q = self._check_vectors(queries, "queries")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        k = min(int(k), len(self))
        if k == 0:
            return [[] for _ in range(len(q))], np.empty((len(q), 0), np.float32)
        st, opts = self._store, self._backend.options
        if self._backend.exact:
            rows, sc = st.topk(q, k, farthest, opts)
        else:
            exact = lambda sub: st.topk(sub, k, farthest, opts)
            rows, sc = approx_search(
                self._backend, q, k, farthest, st.vecs, st.label_row, len(st), exact
            )
        names = st.row_ids
        return [[names[r] for r in row] for row in rows.tolist()], sc

    # ---------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike) -> None:
        """Writes the index as a directory, atomically (an existing index at
        ``directory`` stays intact if anything fails).

        Raises:
            IndexFileError: ``directory`` exists but holds other files than an
                index's (it would be replaced as a whole).
        """
        d = Path(directory)
        if d.exists():
            known = {HEADER, VECTORS, IDS, LABELS}
            known |= {get_backend(b).filename for b in BACKENDS}
            other = sorted(p.name for p in d.iterdir()) if d.is_dir() else [d.name]
            if set(other) - known:
                raise IndexFileError(d, "holds other files than an index; not replaced")
        with atomic_path(d) as tmp:
            tmp.mkdir()
            sums = self._store.write(tmp)
            header: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "backend": self.backend,
                "options": self._backend.options,
                "fingerprint": self.fingerprint,
                "dim": self.dim,
                "count": len(self),
                "next_label": self._store.next_label,
                "backend_file": None,
                **sums,
            }
            name = self._backend.filename
            if name and self._backend.save(tmp / name):
                sha, size = file_sha(tmp / name)
                header.update(backend_file=name, backend_sha256=sha, backend_bytes=size)
            text = json.dumps(header, indent=2, sort_keys=True) + "\n"
            (tmp / HEADER).write_text(text, encoding="utf-8")

    @classmethod
    def load(
        cls, directory: str | os.PathLike, fingerprint: str | None = None
    ) -> VectorIndex:
        """Reads an index written by :meth:`save` (the backend file is read,
        not rebuilt).

        Args:
            directory: The saved index directory.
            fingerprint: If given, must equal the saved fingerprint.

        Raises:
            IndexFileError: A missing/truncated/corrupted file, a count or dim
                mismatch, or a different fingerprint; the message names the
                file (and both fingerprints).
        """
        d = Path(directory)
        if not d.is_dir():
            raise IndexFileError(d, "no saved index directory here")
        hp = d / HEADER
        try:
            h = json.loads(hp.read_text(encoding="utf-8"))
            dim, count, backend = int(h["dim"]), int(h["count"]), h["backend"]
            next_label, saved_fp = int(h["next_label"]), str(h["fingerprint"])
            opts = dict(h["options"])
            sums = {k: h[k] for k in ("vectors_sha256", "labels_sha256", "ids_sha256")}
            bfile = h["backend_file"]
            bsum = (h["backend_sha256"], h["backend_bytes"]) if bfile else None
        except FileNotFoundError as e:
            raise IndexFileError(hp, "missing") from e
        except (ValueError, KeyError, TypeError) as e:
            raise IndexFileError(hp, f"unreadable or incomplete ({e!r})") from e
        if h.get("format") != FORMAT or h.get("version") != VERSION:
            raise IndexFileError(hp, f"not a {FORMAT} v{VERSION} header")
        if backend not in BACKENDS:
            raise IndexFileError(hp, f"unknown backend {backend!r}")
        if fingerprint is not None and fingerprint != saved_fp:
            raise IndexFileError(
                hp,
                f"fingerprint mismatch: the index was built with {saved_fp!r} "
                f"but {fingerprint!r} was expected",
            )
        try:
            index = cls(dim, backend, fingerprint=saved_fp, **opts)
        except ValueError as e:
            raise IndexFileError(hp, f"bad options ({e})") from e
        be = index._backend
        if bfile:
            bp = d / bfile
            if not bp.is_file():
                raise IndexFileError(bp, "missing")
            if file_sha(bp) != bsum:
                raise mismatch(bp)
            try:
                be.restore(bp)
            except (RuntimeError, ValueError, OSError) as e:
                raise IndexFileError(bp, f"unreadable ({e})") from e
        elif be.filename and count:
            raise IndexFileError(hp, f"names no backend file for {count} items")
        if not be.exact and be.ntotal < count:
            raise IndexFileError(
                d / str(be.filename), f"holds {be.ntotal} entries, expected {count}"
            )
        index._store.read(d, count, next_label, sums)
        return index
