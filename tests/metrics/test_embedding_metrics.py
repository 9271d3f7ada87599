"""Embedding metrics against hand computations and brute-force loops."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mmvision.metrics.embedding import (
    distance_roc,
    pair_distances,
    query_scores,
    triplet_accuracy,
)
from mmvision.metrics.retrieval import recall_at_k

EMB = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 4.0], [5.0, 5.0]])
LABELS = np.array([0, 0, 1, 1, 0])


def test_triplet_accuracy_by_hand():
    # D(0,1)=1 < D(0,2)=3: right; D(2,3)=1 < D(2,0)=3: right;
    # D(0,4)=7.07 > D(0,3)=4: wrong; ties count as wrong.
    t = np.array([[0, 1, 2], [2, 3, 0], [0, 4, 3]])
    assert triplet_accuracy(EMB, t) == pytest.approx(2 / 3)
    assert triplet_accuracy(np.zeros((3, 2)), [[0, 1, 2]]) == 0.0
    assert triplet_accuracy(EMB, np.zeros((0, 3))) == 0.0


def test_pair_distances_each_pair_once():
    pos, neg = pair_distances(EMB, LABELS)
    want_pos, want_neg = [], []
    for i, j in itertools.combinations(range(len(EMB)), 2):
        d = np.linalg.norm(EMB[i] - EMB[j])
        (want_pos if LABELS[i] == LABELS[j] else want_neg).append(d)
    np.testing.assert_allclose(sorted(pos), sorted(want_pos))
    np.testing.assert_allclose(sorted(neg), sorted(want_neg))


def test_distance_roc_matches_scikit_learn():
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    pos, neg = pair_distances(emb, labels)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    want = roc_auc_score(y, -np.r_[pos, neg])
    roc = distance_roc(emb, labels)
    assert roc["auc"] == pytest.approx(want)
    assert roc["tpr"][-1] == 1.0 and np.all(np.diff(roc["fpr"]) >= 0)
    sep = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert distance_roc(sep, np.array([0, 0, 1, 1]))["auc"] == 1.0
    assert np.isnan(distance_roc(sep, np.zeros(4, int))["auc"])


def test_recall_at_k_by_hand():
    assert recall_at_k([1, 0, 1, 1], 2) == pytest.approx(1 / 3)
    assert recall_at_k([0, 0, 1], 3, n_relevant=2) == 0.5
    assert recall_at_k([0, 0], 1) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k([1], 0)


def test_query_scores_by_hand():
    # Query 0: ranking 1 (rel), 2, 3, 4 (rel) -> AP = (1/1 + 2/4) / 2.
    # Query 2: 3 (rel) first, only positive -> AP 1, P@2 = 1/2, R@2 = 1.
    out = query_scores(EMB, LABELS, k=2)
    aps = []
    for q in range(5):
        order = [j for j in np.argsort(np.linalg.norm(EMB - EMB[q], axis=1)) if j != q]
        rel = LABELS[order] == LABELS[q]
        hits = np.flatnonzero(rel) + 1
        aps.append(np.mean(np.arange(1, len(hits) + 1) / hits))
    assert aps[0] == pytest.approx(0.75) and aps[2] == 1.0
    assert out["map"] == pytest.approx(np.mean(aps))
    assert set(out) == {"map", "p2", "recall2"}
    assert query_scores(EMB, np.arange(5))["map"] == 0.0
