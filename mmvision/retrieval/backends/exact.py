"""Exact (brute-force) inner-product search in bounded memory, and the
vector store it runs over (with its files: vectors.npy, ids.json, labels.npy).

The database is scanned in chunks of ``chunk_rows`` rows and the queries in
blocks of ``query_chunk`` rows; each block's scores are reduced to a running
top-k with ``np.argpartition``, so the full ``Q x N`` score matrix never
exists. Peak extra memory is about ``12 * query_chunk * chunk_rows`` bytes
(float32 scores plus argpartition's int64 positions), 48 MB by default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from mmvision.retrieval.backends import (
    HEADER,
    Backend,
    IndexFileError,
    load_npy,
    mismatch,
    save_npy,
)

VECTORS, IDS, LABELS = "vectors.npy", "ids.json", "labels.npy"

# Score elements per (query block x database chunk) when query_chunk is auto.
BLOCK_ELEMENTS = 1 << 22
MAX_QUERY_CHUNK = 4096


def auto_query_chunk(chunk_rows: int, query_chunk: int = 0) -> int:
    """``query_chunk`` if set (> 0), else enough queries to fill one block."""
    if query_chunk > 0:
        return query_chunk
    return max(1, min(MAX_QUERY_CHUNK, BLOCK_ELEMENTS // chunk_rows))


def _keep_top(
    scores: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of ``scores`` (unordered)."""
    width = scores.shape[1]
    if width <= k:
        return scores, rows
    sel = np.argpartition(scores, width - k, axis=1)[:, width - k :]
    return (np.take_along_axis(scores, sel, 1), np.take_along_axis(rows, sel, 1))


def exact_topk(
    base: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    farthest: bool = False,
    valid: np.ndarray | None = None,
    chunk_rows: int = 65536,
    query_chunk: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` rows of ``base`` by inner product with each query.

    Args:
        base: Database rows [N, dim], float32.
        queries: Queries [Q, dim], float32.
        k: Results per query; more than the valid rows gives all of them.
        farthest: If True, the ``k`` lowest scores, lowest first.
        valid: Optional boolean mask [N]; False rows are never returned.
        chunk_rows: Database rows scored at a time.
        query_chunk: Queries scored at a time (0 = auto, see module docs).

    Returns:
        Row positions [Q, k'] (int64) and their scores [Q, k'] (float32),
        best first (``farthest``: lowest first), with ``k' = min(k, valid rows)``.
    """
    n = base.shape[0]
    n_valid = n if valid is None else int(np.count_nonzero(valid))
    k = min(int(k), n_valid)
    n_q = queries.shape[0]
    out_rows = np.empty((n_q, k), np.int64)
    out_scores = np.empty((n_q, k), np.float32)
    if k == 0 or n_q == 0:
        return out_rows, out_scores
    step = auto_query_chunk(chunk_rows, query_chunk)
    for q0 in range(0, n_q, step):
        block = queries[q0 : q0 + step]
        best_s = np.empty((len(block), 0), np.float32)
        best_r = np.empty((len(block), 0), np.int64)
        for r0 in range(0, n, chunk_rows):
            chunk = base[r0 : r0 + chunk_rows]
            s = block @ chunk.T
            if farthest:
                np.negative(s, out=s)
            if valid is not None:
                dead = ~valid[r0 : r0 + len(chunk)]
                if dead.all():
                    continue
                if dead.any():
                    s[:, dead] = -np.inf
            kk = min(k, s.shape[1])
            if kk < s.shape[1]:
                part = np.argpartition(s, s.shape[1] - kk, axis=1)[:, s.shape[1] - kk :]
                cand_s = np.take_along_axis(s, part, 1)
            else:
                part = np.broadcast_to(np.arange(s.shape[1]), s.shape)
                cand_s = s
            del s
            best_s, best_r = _keep_top(
                np.concatenate([best_s, cand_s], 1),
                np.concatenate([best_r, part + r0], 1),
                k,
            )
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, 1)
        out_rows[q0 : q0 + step] = np.take_along_axis(best_r, order, 1)
        out_scores[q0 : q0 + step] = -best_s if farthest else best_s
    return out_rows, out_scores


def exact_scores(base: np.ndarray, query: np.ndarray, chunk_rows: int) -> np.ndarray:
    """Inner products of one query [dim] with every row of ``base`` (chunked)."""
    out = np.empty(base.shape[0], np.float32)
    for r0 in range(0, base.shape[0], chunk_rows):
        out[r0 : r0 + chunk_rows] = base[r0 : r0 + chunk_rows] @ query
    return out


def load_ids(path: Path, sha: str, count: int) -> list[str]:
    """Reads ids.json: ``count`` unique strings matching the header's sha256.

    Raises:
        IndexFileError: Missing, corrupted or inconsistent (named).
    """
    if not path.is_file():
        raise IndexFileError(path, "missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        raise mismatch(path)
    try:
        ids = json.loads(data.decode("utf-8"))
    except ValueError as e:
        raise IndexFileError(path, f"not valid JSON ({e})") from e
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise IndexFileError(path, "not a JSON list of strings")
    if len(ids) != count:
        raise IndexFileError(path, f"holds {len(ids)} ids, {HEADER} says {count}")
    if len(set(ids)) != count:
        raise IndexFileError(path, "repeated ids")
    return ids


class VectorStore:
    """The index's own copy of its vectors, in insertion order.

    Each row has a string id and an int64 label (the name the backend knows
    it by; labels are never reused). Removed rows are masked out until
    :meth:`compact` drops them; labels survive compaction.

    Attributes:
        vecs: Row storage [capacity, dim] float32 (rows ``[:n_rows]`` used).
        labels: Label of each row.
        alive: False for removed rows.
        row_ids: Id of each row (None once removed).
        row_of: Id -> row of the live items.
        label_row: Label -> row, -1 for removed labels.
        n_rows: Rows in use (live and removed).
        next_label: The label the next added row gets.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vecs = np.empty((0, dim), np.float32)
        self.labels = np.empty(0, np.int64)
        self.alive = np.empty(0, bool)
        self.row_ids: list[str | None] = []
        self.row_of: dict[str, int] = {}
        self.label_row = np.empty(0, np.int64)
        self.n_rows = 0
        self.next_label = 0

    def __len__(self) -> int:
        return len(self.row_of)

    def rows(self, ids: list[str]) -> np.ndarray:
        """Rows of ``ids``; KeyError naming the first unknown id."""
        for i in ids:
            if i not in self.row_of:
                raise KeyError(f"id {i!r} is not in the index")
        return np.asarray([self.row_of[i] for i in ids], np.int64)

    def new_labels(self, n: int) -> np.ndarray:
        """The labels the next ``n`` rows will get."""
        return np.arange(self.next_label, self.next_label + n, dtype=np.int64)

    def append(self, ids: list[str], x: np.ndarray, labels: np.ndarray) -> None:
        """Appends validated rows (capacity grows by 1.25x)."""
        n, r0 = len(ids), self.n_rows
        if r0 + n > len(self.vecs):
            cap = max(r0 + n, int(len(self.vecs) * 1.25) + 1024)
            vecs = np.empty((cap, self.dim), np.float32)
            vecs[:r0] = self.vecs[:r0]
            self.vecs = vecs
            self.labels = np.resize(self.labels, cap)
            self.alive = np.resize(self.alive, cap)
        top = int(labels[-1]) + 1
        if top > len(self.label_row):
            old = len(self.label_row)
            self.label_row = np.resize(self.label_row, max(top, int(old * 1.25)))
            self.label_row[old:] = -1
        r1 = r0 + n
        self.vecs[r0:r1], self.labels[r0:r1], self.alive[r0:r1] = x, labels, True
        self.label_row[labels] = np.arange(r0, r1)
        self.row_ids.extend(ids)
        self.row_of.update(zip(ids, range(r0, r1)))
        self.n_rows, self.next_label = r1, top

    def remove(self, ids: list[str], rows: np.ndarray) -> None:
        """Masks ``rows`` (of ``ids``); compacts once half the rows are dead."""
        self.alive[rows] = False
        self.label_row[self.labels[rows]] = -1
        for i, r in zip(ids, rows.tolist()):
            self.row_ids[r] = None
            del self.row_of[i]
        if self.n_rows - len(self) > self.n_rows // 2:
            self.compact()

    def compact(self) -> None:
        """Drops removed rows (labels are unchanged)."""
        n = self.n_rows
        if n != len(self):
            keep = self.alive[:n]
            ids = [i for i in self.row_ids if i is not None]
            self.set_rows(self.vecs[:n][keep], self.labels[:n][keep], ids)

    def set_rows(self, vecs: np.ndarray, labels: np.ndarray, ids: list) -> None:
        """Replaces the store with live rows ``vecs``/``labels``/``ids``."""
        self.vecs, self.labels, self.row_ids = vecs, labels, ids
        self.n_rows = len(ids)
        self.alive = np.ones(self.n_rows, bool)
        self.row_of = dict(zip(ids, range(self.n_rows)))
        top = int(labels.max()) + 1 if len(labels) else 0
        self.next_label = max(self.next_label, top)
        if len(self.label_row) < self.next_label:
            self.label_row = np.full(self.next_label, -1, np.int64)
        self.label_row[labels] = np.arange(self.n_rows)

    def write(self, directory: Path) -> dict[str, str]:
        """Compacts, then writes vectors.npy, ids.json and labels.npy into
        ``directory``; returns their checksums for the header."""
        self.compact()
        n = self.n_rows
        ids_bytes = json.dumps(self.row_ids).encode("utf-8")
        sums = {"vectors_sha256": save_npy(directory / VECTORS, self.vecs[:n])}
        (directory / IDS).write_bytes(ids_bytes)
        sums["ids_sha256"] = hashlib.sha256(ids_bytes).hexdigest()
        sums["labels_sha256"] = save_npy(directory / LABELS, self.labels[:n])
        return sums

    def read(self, directory: Path, count: int, next_label: int, sums: dict) -> None:
        """Replaces the rows with those :meth:`write` saved in ``directory``,
        checking sizes and checksums (IndexFileError names the bad file)."""
        shape = (count, self.dim)
        vecs = load_npy(directory / VECTORS, sums["vectors_sha256"], np.float32, shape)
        labels = load_npy(directory / LABELS, sums["labels_sha256"], np.int64, (count,))
        ids = load_ids(directory / IDS, sums["ids_sha256"], count)
        if count and (labels.min() < 0 or labels.max() >= next_label):
            raise IndexFileError(directory / LABELS, f"outside [0, {next_label})")
        if len(np.unique(labels)) != count:
            raise IndexFileError(directory / LABELS, "repeated labels")
        self.next_label = next_label
        self.set_rows(vecs, labels, ids)

    def live(self) -> np.ndarray:
        """Vectors of the live rows (a view if nothing is removed)."""
        n = self.n_rows
        return self.vecs[:n] if n == len(self) else self.vecs[:n][self.alive[:n]]

    def topk(
        self, queries: np.ndarray, k: int, farthest: bool, options: dict
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`exact_topk` over the live rows -> (rows, scores)."""
        n = self.n_rows
        return exact_topk(
            self.vecs[:n],
            queries,
            k,
            farthest=farthest,
            valid=None if n == len(self) else self.alive[:n],
            chunk_rows=options["chunk_rows"],
            query_chunk=options["query_chunk"],
        )

    def scores(self, query: np.ndarray, chunk_rows: int) -> np.ndarray:
        """Exact inner products of one query with the live rows, in order."""
        out = exact_scores(self.vecs[: self.n_rows], query, chunk_rows)
        return out if self.n_rows == len(self) else out[self.alive[: self.n_rows]]


class ExactBackend(Backend):
    """Brute-force search over the index's own stored vectors.

    It keeps no state of its own: the index runs :meth:`VectorStore.topk` on
    its store (options ``chunk_rows`` and ``query_chunk``).
    """

    name = "exact"
    exact = True

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Nothing to do: the index stores the vectors."""

    def remove(self, labels: np.ndarray) -> None:
        """Nothing to do: the index masks removed rows."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Not used: the index searches its store directly."""
        raise NotImplementedError("the exact backend is searched by VectorIndex")
