"""mmvision.metrics.retrieval: hand cases, sklearn AP/nDCG, brute-force score@K."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from mmvision.metrics.retrieval import (
    average_precision,
    mean_score_at_top_k,
    ndcg_at_k,
    precision_at_k,
    ranking_report,
    score_at_top_k,
)

skm = pytest.importorskip("sklearn.metrics")


def ranked_by_scores(rng, n, graded=False):
    """(y_true, distinct scores, y_true in descending-score order)."""
    y = rng.integers(0, 4 if graded else 2, size=n)
    y[rng.integers(n)] = 1  # at least one relevant item
    scores = rng.permutation(n) + rng.random(n) * 0.5  # distinct
    return y, scores, y[np.argsort(-scores)]


# ------------------------------------------------------------- precision@k
def test_precision_hand():
    rel = [True, False, True, True, False]
    assert precision_at_k(rel, 1) == 1.0
    assert precision_at_k(rel, 2) == 0.5
    assert precision_at_k(rel, 3) == pytest.approx(2 / 3)
    assert precision_at_k(np.array([0, 0, 1]), 3) == pytest.approx(1 / 3)


def test_precision_fewer_results_than_k_divides_by_k():
    assert precision_at_k([1, 1], 5) == pytest.approx(0.4)
    assert precision_at_k([], 3) == 0.0


@pytest.mark.parametrize("bad", [[1, 2], [0.5], [[1, 0]], ["a"]])
def test_precision_refuses_non_binary(bad):
    with pytest.raises(ValueError):
        precision_at_k(bad, 1)


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_precision_refuses_bad_k(k):
    with pytest.raises(ValueError, match="k must"):
        precision_at_k([1], k)


# ------------------------------------------------------------------- AP
def test_average_precision_hand():
    rel = [1, 0, 1, 0, 0, 1]  # P@1 = 1, P@3 = 2/3, P@6 = 1/2
    assert average_precision(rel) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert average_precision(rel, n_relevant=5) == pytest.approx(
        (1 + 2 / 3 + 1 / 2) / 5
    )
    assert average_precision([0, 1], n_relevant=3) == pytest.approx(0.5 / 3)
    assert average_precision([1, 1, 0]) == 1.0


def test_average_precision_nothing_relevant():
    assert average_precision([]) == 0.0
    assert average_precision([0, 0, 0]) == 0.0
    assert average_precision([0, 0], n_relevant=0) == 0.0
    assert average_precision([], n_relevant=2) == 0.0


def test_average_precision_refuses_too_small_n_relevant():
    with pytest.raises(ValueError, match="n_relevant=1"):
        average_precision([1, 1], n_relevant=1)
    with pytest.raises(ValueError):
        average_precision([1], n_relevant=-1)


@pytest.mark.parametrize("seed", range(6))
def test_average_precision_matches_sklearn_full_database(seed):
    rng = np.random.default_rng(seed)
    y, scores, ranked = ranked_by_scores(rng, int(rng.integers(5, 80)))
    expected = skm.average_precision_score(y, scores)
    assert average_precision(ranked) == pytest.approx(expected, abs=1e-12)
    assert average_precision(ranked, int(y.sum())) == pytest.approx(expected)


def test_average_precision_truncated_ranking_loses_missing_items():
    rng = np.random.default_rng(7)
    y, scores, ranked = ranked_by_scores(rng, 60)
    full = average_precision(ranked)
    head = ranked[:20]
    truncated = average_precision(head, n_relevant=int(y.sum()))
    # the terms of the items still in the head are unchanged, the rest are 0
    ranks = np.flatnonzero(head) + 1
    hand = np.sum(np.arange(1, ranks.size + 1) / ranks) / y.sum()
    assert truncated == pytest.approx(hand)
    assert truncated < full


# ----------------------------------------------------------------- nDCG
def test_ndcg_hand_wikipedia_example():
    gains = [3, 2, 3, 0, 1, 2]
    dcg = 3 + 2 / math.log2(3) + 3 / 2 + 0 + 1 / math.log2(6) + 2 / math.log2(7)
    assert dcg == pytest.approx(6.861, abs=1e-3)
    ideal = [3, 3, 3, 2, 2, 2, 1, 0]  # the database also holds a 3 and a 2
    idcg = 3 + 3 / math.log2(3) + 3 / 2 + 2 / math.log2(5)
    idcg += 2 / math.log2(6) + 2 / math.log2(7)
    assert idcg == pytest.approx(8.740, abs=1e-3)
    assert ndcg_at_k(gains, 6, ideal_gains=ideal) == pytest.approx(dcg / idcg)
    # without ideal_gains the ranking's own gains make the ideal
    self_ideal = 3 + 3 / math.log2(3) + 2 / 2 + 2 / math.log2(5) + 1 / math.log2(6)
    assert ndcg_at_k(gains, 6) == pytest.approx(dcg / self_ideal)
    assert ndcg_at_k(gains, 1) == 1.0


def test_ndcg_fewer_results_than_k():
    expected = 1 / (1 + 1 / math.log2(3))
    assert ndcg_at_k([1], 5, ideal_gains=[1, 1]) == pytest.approx(expected)
    assert ndcg_at_k([1, 0], 10) == 1.0
    assert ndcg_at_k([0, 1], 10, ideal_gains=[1, 0, 0]) == pytest.approx(
        1 / math.log2(3)
    )


def test_ndcg_no_gain_is_zero():
    assert ndcg_at_k([], 5) == 0.0
    assert ndcg_at_k([0, 0], 5) == 0.0
    assert ndcg_at_k([], 5, ideal_gains=[1, 1]) == 0.0


def test_ndcg_refuses_gains_missing_from_ideal():
    with pytest.raises(ValueError, match="not in ideal_gains"):
        ndcg_at_k([1, 1], 2, ideal_gains=[1])
    with pytest.raises(ValueError, match="not in ideal_gains"):
        ndcg_at_k([3, 0], 2, ideal_gains=[2, 2])
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k([-1.0], 2)


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_sklearn_full_database(seed, graded):
    rng = np.random.default_rng(100 + seed)
    y, scores, ranked = ranked_by_scores(rng, int(rng.integers(12, 60)), graded)
    for k in (10, 3):
        expected = skm.ndcg_score(y[None], scores[None], k=k)
        assert ndcg_at_k(ranked, k) == pytest.approx(expected, abs=1e-12)
        assert ndcg_at_k(ranked, k, ideal_gains=y) == pytest.approx(expected)


# ---------------------------------------------------------- score at top K
def brute_score_at_top_k(scores, relevance, k):
    n = len(scores)
    top = set(sorted(range(n), key=lambda i: (-scores[i], i))[:k])
    total = 0
    for p in range(n):
        for q in range(n):
            if relevance[p] > relevance[q] and (p in top or q in top):
                if scores[p] > scores[q]:
                    total += 1
                elif scores[p] < scores[q]:
                    total -= 1
    return total


def test_score_at_top_k_hand():
    scores = np.array([0.9, 0.8, 0.1, 0.5])
    relevance = np.array([0, 2, 1, 0])
    # top-1 = {0}: (p=1, n=0) and (p=2, n=0) both inverted
    assert score_at_top_k(scores, relevance, k=1) == -2
    # top-2 adds item 1: (1, 2) and (1, 3) correct
    assert score_at_top_k(scores, relevance, k=2) == 0
    # everything: (2, 3) inverted as well
    assert score_at_top_k(scores, relevance, k=4) == -1
    assert score_at_top_k(scores, relevance, k=50) == -1
    assert isinstance(score_at_top_k(scores, relevance, k=1), int)


def test_score_at_top_k_ties_count_neither_way():
    assert score_at_top_k(np.ones(4), np.array([2, 1, 0, 0]), k=2) == 0
    # equal relevance makes no triplet
    assert score_at_top_k(np.array([3.0, 1.0, 2.0]), np.zeros(3), k=3) == 0


def test_score_at_top_k_cutoff_ties_go_to_lower_index():
    scores = np.array([0.0, 1.0, 1.0])
    relevance = np.array([0, 0, 1])
    # top-1 is item 1 (lower index than 2); it makes no inverted triplet
    assert score_at_top_k(scores, relevance, k=1) == 0
    # item 2 in the top: (2, 0) correct, (2, 1) tied
    assert score_at_top_k(scores, relevance, k=2) == 1


@pytest.mark.parametrize("seed", range(6))
def test_score_at_top_k_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 70))
    scores = rng.integers(0, 8, size=n) / 4.0  # many ties
    relevance = rng.integers(0, 3, size=n)
    for k in (1, 3, 10, 30, n, n + 5):
        expected = brute_score_at_top_k(scores.tolist(), relevance.tolist(), k)
        assert score_at_top_k(scores, relevance, k) == expected, k


def test_score_at_top_k_large_database_is_fast_and_exact():
    rng = np.random.default_rng(3)
    n, k = 10_000, 30
    relevance = rng.integers(0, 3, size=n)
    n_below = int((relevance < 2).sum())
    perfect = relevance + rng.random(n) * 0.5  # best top-K all have relevance 2
    start = time.perf_counter()
    assert score_at_top_k(perfect, relevance, k) == k * n_below
    assert time.perf_counter() - start < 5.0
    assert score_at_top_k(-perfect, relevance, k) == -k * int((relevance > 0).sum())


def test_score_at_top_k_refuses_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        score_at_top_k(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        score_at_top_k(np.array([np.nan, 1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="k must"):
        score_at_top_k(np.zeros(3), np.zeros(3), k=0)


def test_mean_score_at_top_k():
    rng = np.random.default_rng(11)
    scores = rng.integers(0, 5, size=(4, 25)).astype(float)
    relevance = rng.integers(0, 3, size=(4, 25))
    per_query = [brute_score_at_top_k(s, r, 5) for s, r in zip(scores, relevance)]
    assert mean_score_at_top_k(scores, relevance, k=5) == pytest.approx(
        np.mean(per_query)
    )
    with pytest.raises(ValueError, match=r"\[Q, N\]"):
        mean_score_at_top_k(scores, relevance[:, :3])
    with pytest.raises(ValueError, match="no queries"):
        mean_score_at_top_k(np.zeros((0, 3)), np.zeros((0, 3)))


# ------------------------------------------------------------- report
def test_ranking_report_hand():
    q1 = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    q2 = np.array([0, 1])  # fewer results than every k
    report = ranking_report([q1, q2], [4, 1])
    assert set(report) == {"p5", "p10", "map", "ndcg10"}
    assert report["p5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert report["p10"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    ap1 = (1 + 2 / 3 + 3 / 11) / 4
    assert report["map"] == pytest.approx((ap1 + 1 / 2) / 2)
    idcg1 = 1 + 1 / math.log2(3) + 1 / 2 + 1 / math.log2(5)
    ndcg1 = (1 + 1 / 2) / idcg1  # rank 11 is past k=10
    assert report["ndcg10"] == pytest.approx((ndcg1 + 1 / math.log2(3)) / 2)


def test_ranking_report_custom_ks_and_errors():
    report = ranking_report([np.array([0, 1, 1])], [2], ks=(3, 1))
    assert set(report) == {"p1", "p3", "map", "ndcg3"}
    assert report["p1"] == 0.0 and report["p3"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ in length"):
        ranking_report([np.array([1])], [1, 2])
    with pytest.raises(ValueError, match="at least one query"):
        ranking_report([], [])
    with pytest.raises(ValueError, match="n_relevant=1"):
        ranking_report([np.array([1, 1])], [1])
