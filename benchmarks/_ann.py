"""Helpers for the vector-index benchmark: synthetic embeddings, a backend
comparison (build time, queries/s, recall against exact) and the exact
search's peak memory.

The synthetic data imitates sentence embeddings: unit vectors around cluster
centres on the sphere, cluster sizes skewed (weight ~ rank^-0.5), and noise
that is anisotropic (a power-law spectrum in a random basis, so the data has a
low effective dimension, about 26 of 384) rather than isotropic.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmvision.retrieval.index import BACKENDS, VectorIndex  # noqa: E402

CHUNK = 65536  # rows generated at a time (also fixes the random stream)

# Defaults tuned for ~1M x 384 clustered vectors: recall@10 >= 0.95 with
# IVF (nlist ~ 4 sqrt(N) = 4000, nprobe 32: ~1% of the data scanned) and
# HNSW (M 32, ef_search 128). Explicit options override these.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "exact": {},
    "faiss-flat": {},
    "faiss-ivf": {"nprobe": 32},
    "faiss-hnsw": {"M": 32, "ef_construction": 100, "ef_search": 128},
    "hnswlib": {"M": 32, "ef_construction": 100, "ef_search": 128},
}


def _unit_rows_(x: np.ndarray) -> np.ndarray:
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def clustered_vectors(
    n: int,
    dim: int = 384,
    n_clusters: int = 1000,
    spread: float = 0.75,
    seed: int = 0,
) -> np.ndarray:
    """Float32 unit rows shaped like sentence embeddings.

    Each row is ``normalise(centre + spread * noise)`` with ``|noise| ~ 1``, so
    a row's cosine with its centre is about ``1 / sqrt(1 + spread**2)`` (0.8
    by default). Rows are generated ``CHUNK`` at a time into one array, so
    1M x 384 needs ~1.5 GB plus ~0.2 GB of scratch; the first ``m`` rows are
    the same for every ``n >= m``.

    Args:
        n: Rows.
        dim: Dimension.
        n_clusters: Cluster centres (uniform on the sphere).
        spread: Noise scale relative to the unit centre.
        seed: Random seed.

    Returns:
        [n, dim] float32, unit L2 norm rows.
    """
    rng = np.random.default_rng([seed, 0])
    centres = _unit_rows_(rng.standard_normal((n_clusters, dim), dtype=np.float32))
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = np.arange(1, dim + 1, dtype=np.float64) ** -0.5
    scales /= np.linalg.norm(scales)
    mix = (scales[:, None] * basis.T * spread).astype(np.float32)
    weights = np.arange(1, n_clusters + 1, dtype=np.float64) ** -0.5
    weights = rng.permutation(weights / weights.sum())
    out = np.empty((n, dim), np.float32)
    for c, r0 in enumerate(range(0, n, CHUNK)):
        r1 = min(n, r0 + CHUNK)
        crng = np.random.default_rng([seed, 1, c])
        labels = crng.choice(n_clusters, size=r1 - r0, p=weights)
        noise = crng.standard_normal((r1 - r0, dim), dtype=np.float32)
        out[r0:r1] = noise @ mix
        out[r0:r1] += centres[labels]
        _unit_rows_(out[r0:r1])
    return out


def query_vectors(
    base: np.ndarray, n_queries: int, seed: int = 1, noise: float = 0.5
) -> np.ndarray:
    """Queries near the data: perturbed database rows, unit norm.

    Each query is ``normalise(row + noise * g)`` for a random row of ``base``
    and isotropic ``g`` with ``|g| ~ 1`` (cosine ~0.9 with its row), so its
    neighbours are that row's neighbourhood, slightly reshuffled.

    Args:
        base: [N, dim] unit rows.
        n_queries: Queries.
        seed: Random seed.
        noise: Perturbation scale.

    Returns:
        [n_queries, dim] float32 unit rows.
    """
    rng = np.random.default_rng([seed, 2])
    rows = rng.choice(len(base), size=n_queries, replace=n_queries > len(base))
    g = rng.standard_normal((n_queries, base.shape[1]), dtype=np.float32)
    q = base[rows] + (noise / np.sqrt(base.shape[1])) * g
    return _unit_rows_(q.astype(np.float32))


def _recall(got: list[list[str]], want: list[list[str]], k: int) -> float:
    hits = [
        len(set(g[:k]) & set(w[:k])) / max(1, len(w[:k])) for g, w in zip(got, want)
    ]
    return float(np.mean(hits)) if hits else 0.0


def compare_backends(
    base: np.ndarray,
    queries: np.ndarray,
    k: int = 10,
    backends: tuple[str, ...] = BACKENDS,
    options: dict[str, dict[str, Any]] | None = None,
    workdir: str | None = None,
) -> list[dict[str, Any]]:
    """Builds each backend over ``base`` and measures it against exact search.

    Exact is always measured first (added if missing) as the reference. Each
    index is built, timed on all ``queries`` (after a 10-query warm-up),
    saved to a temporary directory to size its backend file, then freed.

    Args:
        base: [N, dim] float32 unit rows.
        queries: [Q, dim] float32 unit rows.
        k: Neighbours per query.
        backends: Backend names (see ``BACKENDS``).
        options: Per-backend option overrides, merged over ``DEFAULT_OPTIONS``.
        workdir: Where the temporary saved indexes go (default: system temp).

    Returns:
        One dict per backend: ``name``, ``options``, ``n``, ``dim``, ``k``,
        ``build_s``, ``search_s``, ``queries_per_s``, ``recall10`` (recall@10,
        or @k if k < 10, against exact), ``recall`` (@k), ``speedup`` (queries/s
        over exact's), ``bytes_per_vector`` (the backend's saved file, or
        ``vectors.npy`` for exact, divided by N).
    """
    options = options or {}
    names = ["exact"] + [b for b in backends if b != "exact"]
    ids = [str(i) for i in range(len(base))]
    rows: list[dict[str, Any]] = []
    reference: list[list[str]] = []
    for name in names:
        opts = {**DEFAULT_OPTIONS.get(name, {}), **options.get(name, {})}
        t0 = time.perf_counter()
        index = VectorIndex(base.shape[1], backend=name, **opts)
        index.add(ids, base)
        build_s = time.perf_counter() - t0
        index.search(queries[:10], k)
        t0 = time.perf_counter()
        got, _ = index.search(queries, k)
        search_s = time.perf_counter() - t0
        if name == "exact":
            reference = got
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            saved = Path(tmp) / "index"
            index.save(saved)
            header = json.loads((saved / "header.json").read_text())
            size = (saved / (header["backend_file"] or "vectors.npy")).stat().st_size
        rows.append(
            {
                "name": name,
                "options": index.options,
                "n": len(base),
                "dim": int(base.shape[1]),
                "k": k,
                "build_s": build_s,
                "search_s": search_s,
                "queries_per_s": len(queries) / max(search_s, 1e-9),
                "recall10": _recall(got, reference, min(10, k)),
                "recall": _recall(got, reference, k),
                "bytes_per_vector": size / max(1, len(base)),
            }
        )
        del index, got
        gc.collect()
    exact_qps = rows[0]["queries_per_s"]
    for row in rows:
        row["speedup"] = row["queries_per_s"] / exact_qps
    return rows


def exact_peak_mb(base: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Peak extra memory (MB) of an exact search over ``base``.

    The index is built first (its copy of ``base`` is not counted); tracing
    covers only ``search``. numpy reports its buffers to ``tracemalloc``, so a
    materialised ``Q x N`` score matrix (``Q * N * 4`` bytes) would show up.

    Args:
        base: [N, dim] float32 unit rows.
        queries: [Q, dim] float32 unit rows.
        k: Neighbours per query.

    Returns:
        Peak traced allocation during the search, in MB (10**6 bytes).
    """
    index = VectorIndex(base.shape[1])
    index.add([str(i) for i in range(len(base))], base)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        index.search(queries, k)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 1e6
