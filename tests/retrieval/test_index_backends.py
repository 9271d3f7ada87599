"""ANN backends (FAISS flat/IVF/HNSW, hnswlib) agree with the exact backend."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mmvision.retrieval.backends import get_backend
from mmvision.retrieval.index import VectorIndex

# High-effort settings: on 2,000 vectors they must find exactly the exact top-k.
HIGH_EFFORT = {
    "faiss-flat": {},
    "faiss-ivf": {"nlist": 32, "nprobe": 32},
    "faiss-hnsw": {"M": 16, "ef_construction": 200, "ef_search": 200},
    "hnswlib": {"M": 16, "ef_construction": 200, "ef_search": 200},
}
PACKAGE = {"faiss-flat": "faiss", "faiss-ivf": "faiss", "faiss-hnsw": "faiss"}
N, DIM, K = 2000, 32, 10


def clustered(n: int, dim: int, seed: int, n_clusters: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    x = centres[rng.integers(n_clusters, size=n)] + 0.4 * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    base = clustered(N + 40, DIM, seed=0)
    ids = [f"doc{i}" for i in range(N)]
    return ids, base[:N], base[N:]


@pytest.fixture(params=sorted(HIGH_EFFORT))
def backend(request):
    pytest.importorskip(PACKAGE.get(request.param, "hnswlib"))
    return request.param


def build(name, ids, x):
    index = VectorIndex(DIM, backend=name, **HIGH_EFFORT[name])
    index.add(ids, x)
    return index


def exact_index(ids, x):
    index = VectorIndex(DIM)
    index.add(ids, x)
    return index


@pytest.mark.parametrize("farthest", [False, True])
def test_topk_equals_exact(backend, data, farthest):
    ids, x, q = data
    ann, ref = build(backend, ids, x), exact_index(ids, x)
    got, scores = ann.search(q, K, farthest=farthest)
    want, want_scores = ref.search(q, K, farthest=farthest)
    assert got == want
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_save_load_round_trip_reads_the_backend_file(
    backend, data, tmp_path, monkeypatch
):
    ids, x, q = data
    ann = build(backend, ids, x)
    ann.remove(ids[:25])
    ann.save(tmp_path / "idx")
    cls = get_backend(backend)
    if cls.filename:
        assert (tmp_path / "idx" / cls.filename).stat().st_size > N * DIM * 4 // 2

    def no_rebuild(*args, **kwargs):
        raise AssertionError("load must not re-add vectors to the backend")

    monkeypatch.setattr(cls, "add", no_rebuild)
    loaded = VectorIndex.load(tmp_path / "idx")
    monkeypatch.undo()
    assert loaded.ids == ann.ids and loaded.backend == backend
    assert loaded.options == ann.options
    for farthest in (False, True):
        a, sa = ann.search(q, K, farthest=farthest)
        b, sb = loaded.search(q, K, farthest=farthest)
        assert a == b
        np.testing.assert_allclose(sa, sb, atol=1e-6)
    assert not {f"doc{i}" for i in range(25)} & {i for row in b for i in row}


def test_add_then_query_finds_the_new_item(backend, data):
    ids, x, q = data
    ann = build(backend, ids, x)
    fresh = clustered(3, DIM, seed=7)
    ann.add(["new-a", "new-b", "new-c"], fresh)
    got, scores = ann.search(fresh, 1)
    assert got == [["new-a"], ["new-b"], ["new-c"]]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert len(ann) == N + 3 and ann.ids[-3:] == ["new-a", "new-b", "new-c"]


def test_remove_never_returns_removed_and_matches_exact(backend, data):
    ids, x, q = data
    ann, ref = build(backend, ids, x), exact_index(ids, x)
    top, _ = ref.search(q, 3)
    far, _ = ref.search(q, 2, farthest=True)
    gone = sorted({i for row in top + far for i in row})
    ann.remove(gone)
    ref.remove(gone)
    for farthest in (False, True):
        got, scores = ann.search(q, K, farthest=farthest)
        want, want_scores = ref.search(q, K, farthest=farthest)
        assert got == want
        assert not set(gone) & {i for row in got for i in row}
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    with pytest.raises(KeyError, match=gone[0]):
        ann.remove([gone[0]])


def test_removing_most_items_rebuilds_and_stays_exact(backend, data):
    ids, x, q = data
    ann, ref = build(backend, ids, x), exact_index(ids, x)
    gone = ids[: int(N * 0.7)]
    ann.remove(gone)
    ref.remove(gone)
    assert ann._backend.ntotal == len(ann)  # tombstones were dropped
    got, _ = ann.search(q, K)
    assert got == ref.search(q, K)[0]
    # k above the live count returns every item, exactly sorted.
    got, scores = ann.search(q[:2], 5000)
    want, want_scores = ref.search(q[:2], 5000)
    assert got == want and scores.shape == (2, len(ref))


def test_ivf_trains_on_a_small_first_add_and_retrains_as_it_grows(data):
    pytest.importorskip("faiss")
    ids, x, q = data
    ivf = VectorIndex(DIM, backend="faiss-ivf", nprobe=10_000)
    ivf.add(ids[:100], x[:100])
    first = ivf._backend.nlist
    assert 1 <= first <= 100 // 39
    ivf.add(ids[100:], x[100:])
    assert ivf._backend.nlist >= 2 * first
    assert ivf.search(q, K)[0] == exact_index(ids, x).search(q, K)[0]


def test_configure_changes_search_effort(backend, data):
    ids, x, q = data
    ann = build(backend, ids, x)
    if backend == "faiss-ivf":
        ann.configure(nprobe=1)
        assert ann._backend._index.nprobe == 1
    elif backend != "faiss-flat":
        ann.configure(ef_search=12)
        assert ann.options["ef_search"] == 12
    with pytest.raises(ValueError, match="cannot change"):
        ann.configure(M=8)
    assert len(ann.search(q, K)[0][0]) == K


@pytest.mark.parametrize("name", ["faiss-flat", "hnswlib"])
def test_missing_package_says_how_to_install(name, monkeypatch):
    monkeypatch.setitem(sys.modules, PACKAGE.get(name, "hnswlib"), None)
    with pytest.raises(ImportError, match=r"pip install 'mmvision\[ann\]'"):
        VectorIndex(DIM, backend=name)
