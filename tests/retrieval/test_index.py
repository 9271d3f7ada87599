"""VectorIndex with the exact backend, checked against brute-force numpy."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from mmvision.retrieval.backends.exact import exact_topk
from mmvision.retrieval.index import BACKENDS, IndexFileError, VectorIndex


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(base, ids, queries, k, farthest=False):
    """Reference: full score matrix in float64, argsort."""
    s = queries.astype(np.float64) @ base.astype(np.float64).T
    order = np.argsort(s if farthest else -s, axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order], np.take_along_axis(s, order, 1)


def make(n=503, dim=16, seed=0, **options):
    x = unit(n, dim, seed)
    ids = [f"item-{i}" for i in range(n)]
    index = VectorIndex(dim, **options)
    index.add(ids, x)
    return index, ids, x


@pytest.mark.parametrize("chunk_rows", [3, 7, 50, 64, 4096])
@pytest.mark.parametrize("farthest", [False, True])
def test_topk_matches_brute_force(chunk_rows, farthest):
    index, ids, x = make(chunk_rows=chunk_rows, query_chunk=4)
    q = unit(9, 16, seed=1)
    got, scores = index.search(q, 10, farthest=farthest)
    want, want_scores = brute(x, ids, q, 10, farthest)
    assert got == want
    assert scores.shape == (9, 10) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    step = -1 if farthest else 1
    assert (np.diff(scores, axis=1) * step <= 1e-7).all()


def test_k_larger_than_index_returns_everything_sorted():
    index, ids, x = make(n=23, chunk_rows=5)
    q = unit(3, 16, seed=2)
    for farthest in (False, True):
        got, scores = index.search(q, 100, farthest=farthest)
        want, want_scores = brute(x, ids, q, 23, farthest)
        assert got == want and scores.shape == (3, 23)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_single_query_and_empty_index():
    index, ids, x = make(n=40)
    got, scores = index.search(x[7], 1)
    assert got == [["item-7"]] and scores.shape == (1, 1)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    empty = VectorIndex(16)
    got, scores = empty.search(x[:2], 5)
    assert got == [[], []] and scores.shape == (2, 0)


def test_add_in_two_calls_equals_one_call():
    one, ids, x = make(n=300, chunk_rows=64)
    two = VectorIndex(16, chunk_rows=64)
    two.add(ids[:120], x[:120])
    two.add(ids[120:], x[120:])
    assert two.ids == one.ids == ids and len(two) == 300
    q = unit(5, 16, seed=3)
    (a, sa), (b, sb) = two.search(q, 7), one.search(q, 7)
    assert a == b == brute(x, ids, q, 7)[0]
    np.testing.assert_allclose(sa, sb, atol=1e-6)
    np.testing.assert_array_equal(two.vectors(), x)


def test_remove_then_search_matches_brute_force_on_the_rest():
    index, ids, x = make(n=400, chunk_rows=32)
    q = unit(6, 16, seed=4)
    # Remove the current best hits plus a whole chunk's worth of rows.
    top, _ = index.search(q, 3)
    gone = sorted({i for row in top for i in row} | set(ids[32:64]))
    index.remove(gone)
    keep = [i for i in range(400) if ids[i] not in set(gone)]
    rest_ids, rest = [ids[i] for i in keep], x[keep]
    assert index.ids == rest_ids and len(index) == len(keep)
    assert all(g not in index for g in gone) and rest_ids[0] in index
    for farthest in (False, True):
        got, scores = index.search(q, 15, farthest=farthest)
        want, want_scores = brute(rest, rest_ids, q, 15, farthest)
        assert got == want
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    np.testing.assert_array_equal(index.vectors(), rest)
    np.testing.assert_allclose(index.scores(q[0]), rest @ q[0], atol=1e-6)


def test_remove_most_items_compacts_and_stays_correct():
    index, ids, x = make(n=200, chunk_rows=16)
    index.remove(ids[:150])
    index.add(["late"], unit(1, 16, seed=9))
    rest_ids = ids[150:] + ["late"]
    rest = np.concatenate([x[150:], unit(1, 16, seed=9)])
    assert index.ids == rest_ids
    q = unit(4, 16, seed=5)
    got, _ = index.search(q, 51)
    assert got == brute(rest, rest_ids, q, 51)[0]
    # A removed id can come back as a new item at the end.
    index.add([ids[0]], x[0])
    assert index.ids[-1] == ids[0] and index.search(x[0], 1)[0] == [[ids[0]]]


def test_vectors_and_scores_in_ids_order():
    index, ids, x = make(n=130, chunk_rows=40)
    np.testing.assert_array_equal(index.vectors([ids[5], ids[2]]), x[[5, 2]])
    q = unit(1, 16, seed=6)[0]
    np.testing.assert_allclose(index.scores(q), x @ q, atol=1e-6)
    with pytest.raises(KeyError, match="nope"):
        index.vectors(["nope"])


def test_errors_name_the_offending_id():
    index, ids, x = make(n=10)
    with pytest.raises(ValueError, match="'item-3'"):
        index.add(["new", "item-3"], unit(2, 16, seed=7))
    with pytest.raises(ValueError, match="'twice'"):
        index.add(["twice", "twice"], unit(2, 16, seed=7))
    assert len(index) == 10 and "new" not in index
    with pytest.raises(KeyError, match="'ghost'"):
        index.remove(["item-1", "ghost"])
    assert "item-1" in index
    with pytest.raises(ValueError, match=r"\[n, 16\]"):
        index.add(["a"], np.ones((1, 8), np.float32))
    with pytest.raises(ValueError, match="2 ids but 1 vectors"):
        index.add(["a", "b"], unit(1, 16, seed=7))
    bad = unit(2, 16, seed=7)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="row 1 is not finite"):
        index.add(["a", "b"], bad)
    with pytest.raises(ValueError, match="queries"):
        index.search(np.ones(8, np.float32), 3)
    with pytest.raises(ValueError, match="k must be"):
        index.search(x[0], 0)
    assert len(index) == 10


def test_unknown_backend_and_option():
    with pytest.raises(ValueError) as err:
        VectorIndex(8, backend="annoy")
    assert all(name in str(err.value) for name in BACKENDS)
    with pytest.raises(ValueError, match="nprobe"):
        VectorIndex(8, nprobe=3)
    with pytest.raises(ValueError, match="chunk_rows"):
        VectorIndex(8, chunk_rows=0)


def test_exact_memory_stays_far_below_the_score_matrix():
    base, q = unit(20000, 32, seed=8), unit(200, 32, seed=9)
    tracemalloc.start()
    try:
        rows, _ = exact_topk(base, q, 10, chunk_rows=1024, query_chunk=32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    full = 200 * 20000 * 4
    assert peak < full / 10, (peak, full)
    want = np.argsort(-(q @ base.T), axis=1)[:, :10]
    assert (rows == want).mean() > 0.999


# ------------------------------------------------------------- persistence
def test_save_load_round_trip(tmp_path):
    index, ids, x = make(n=257, chunk_rows=50, fingerprint="enc=a")
    index.remove(ids[10:20])
    index.save(tmp_path / "idx")
    header = json.loads((tmp_path / "idx" / "header.json").read_text())
    assert header["count"] == 247 and header["dim"] == 16
    assert header["backend"] == "exact" and header["options"]["chunk_rows"] == 50
    loaded = VectorIndex.load(tmp_path / "idx", fingerprint="enc=a")
    assert loaded.ids == index.ids and loaded.fingerprint == "enc=a"
    assert loaded.options == index.options
    q = unit(8, 16, seed=10)
    for farthest in (False, True):
        a, sa = index.search(q, 12, farthest=farthest)
        b, sb = loaded.search(q, 12, farthest=farthest)
        assert a == b
        np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(loaded.vectors(), index.vectors())
    loaded.add(["after"], x[0])
    assert sorted(loaded.search(x[0], 2)[0][0]) == ["after", ids[0]]
    assert loaded.ids[-1] == "after" and len(loaded) == 248


def test_truncated_vectors_file_is_named(tmp_path):
    index, _, _ = make(n=50)
    index.save(tmp_path / "idx")
    path = tmp_path / "idx" / "vectors.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(IndexFileError, match="vectors.npy"):
        VectorIndex.load(tmp_path / "idx")


def test_corrupted_vectors_and_ids_are_named(tmp_path):
    index, _, _ = make(n=50)
    index.save(tmp_path / "idx")
    vec = tmp_path / "idx" / "vectors.npy"
    data = bytearray(vec.read_bytes())
    data[-5] ^= 0xFF
    vec.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="vectors.npy"):
        VectorIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx")
    ids_path = tmp_path / "idx" / "ids.json"
    ids_path.write_text(ids_path.read_text().replace("item-3", "item-X"))
    with pytest.raises(IndexFileError, match="ids.json"):
        VectorIndex.load(tmp_path / "idx")
    ids_path.write_text("[not json")
    with pytest.raises(IndexFileError, match="ids.json"):
        VectorIndex.load(tmp_path / "idx")


def test_count_mismatch_and_missing_files_are_named(tmp_path):
    index, _, _ = make(n=30)
    index.save(tmp_path / "idx")
    hp = tmp_path / "idx" / "header.json"
    header = json.loads(hp.read_text())
    hp.write_text(json.dumps({**header, "count": 31}))
    with pytest.raises(IndexFileError, match="vectors.npy"):
        VectorIndex.load(tmp_path / "idx")
    hp.write_text(json.dumps({**header, "dim": 8}))
    with pytest.raises(IndexFileError, match="vectors.npy"):
        VectorIndex.load(tmp_path / "idx")
    hp.unlink()
    with pytest.raises(IndexFileError, match="header.json"):
        VectorIndex.load(tmp_path / "idx")
    with pytest.raises(IndexFileError, match="nowhere"):
        VectorIndex.load(tmp_path / "nowhere")
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "ids.json").unlink()
    with pytest.raises(IndexFileError, match="ids.json"):
        VectorIndex.load(tmp_path / "idx")


def test_fingerprint_mismatch_names_both(tmp_path):
    index, _, _ = make(n=20, fingerprint="minilm-v1")
    index.save(tmp_path / "idx")
    with pytest.raises(IndexFileError) as err:
        VectorIndex.load(tmp_path / "idx", fingerprint="tfidf-v2")
    msg = str(err.value)
    assert "header.json" in msg and "minilm-v1" in msg and "tfidf-v2" in msg
    assert VectorIndex.load(tmp_path / "idx").fingerprint == "minilm-v1"


def test_failed_save_leaves_the_old_index_loadable(tmp_path, monkeypatch):
    old, old_ids, _ = make(n=40, seed=1)
    old.save(tmp_path / "idx")
    new, _, _ = make(n=60, seed=2)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        new.save(tmp_path / "idx")
    monkeypatch.undo()
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.ids == old_ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_save_refuses_to_replace_a_foreign_directory(tmp_path):
    index, _, _ = make(n=5)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("keep me")
    with pytest.raises(IndexFileError, match="results"):
        index.save(tmp_path / "results")
    assert (tmp_path / "results" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    index.save(tmp_path / "empty")
    assert VectorIndex.load(tmp_path / "empty").ids == index.ids
