"""Tests for mmvision.data.splits (stratified per-class splits)."""

import numpy as np
import pandas as pd
import pytest

from mmvision.data.manifest import make_manifest
from mmvision.data.splits import (
    DEFAULT_FRACTIONS,
    split_counts,
    stratified_split,
    webvision_split,
)

FR = {"train": 0.8, "val": 0.1, "test": 0.1}


def _manifest(sizes):
    rows = []
    for label, n in enumerate(sizes):
        rows += [{"id": f"c{label}_{i:04d}", "label": label} for i in range(n)]
    return make_manifest(rows)


def _table(m):
    return pd.crosstab(m.label, m.split)


@pytest.mark.parametrize(
    "n, fractions, min_per, expected",
    [
        (100, DEFAULT_FRACTIONS, 1, (96, 2, 2)),
        # 72 / 1.5 / 1.5: floors 72/1/1, the left-over row goes to the first tie.
        (75, DEFAULT_FRACTIONS, 1, (72, 2, 1)),
        # 28.8 / 0.6 / 0.6 -> 29/1/0 by remainders; test then takes one from train.
        (30, DEFAULT_FRACTIONS, 1, (28, 1, 1)),
        (30, DEFAULT_FRACTIONS, 0, (29, 1, 0)),
        (3, DEFAULT_FRACTIONS, 1, (1, 1, 1)),
        (2, DEFAULT_FRACTIONS, 1, (2, 0, 0)),  # too small for all three splits
        (1, FR, 1, (1, 0, 0)),
        (0, FR, 1, (0, 0, 0)),
        (10, FR, 1, (8, 1, 1)),
        (15, FR, 1, (12, 2, 1)),  # 12 / 1.5 / 1.5
        (7, {"a": 0.5, "b": 0.5}, 1, (4, 3)),
        (10, {"train": 1.0, "val": 0.0}, 1, (10, 0)),  # zero fraction stays empty
    ],
)
def test_split_counts_rule(n, fractions, min_per, expected):
    counts = split_counts(n, fractions, min_per)
    assert tuple(counts.values()) == expected
    assert list(counts) == list(fractions)
    assert sum(counts.values()) == n


def test_split_counts_within_one_of_exact():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(0, 500))
        f = rng.dirichlet([1, 1, 1])
        fr = {"a": f[0], "b": f[1], "c": 1 - f[0] - f[1]}
        counts = split_counts(n, fr, min_per_split=0)
        assert sum(counts.values()) == n
        for k in fr:
            assert abs(counts[k] - n * fr[k]) < 1 + 1e-9


def test_per_class_proportions_and_no_overlap():
    sizes = [100, 75, 30, 10, 3, 2, 1]
    m = _manifest(sizes)
    out = stratified_split(m, FR, seed=0)
    assert set(out.split) <= set(FR)
    assert out.id.is_unique and len(out) == len(m)  # each row in exactly one split
    t = _table(out).reindex(columns=list(FR), fill_value=0)
    for label, n in enumerate(sizes):
        assert tuple(t.loc[label]) == tuple(split_counts(n, FR).values())
    # Classes large enough are in every split.
    for label, n in enumerate(sizes):
        if n >= 3:
            assert (t.loc[label] > 0).all()


def test_determinism_and_row_order_independence():
    m = _manifest([50, 40, 30])
    a = stratified_split(m, FR, seed=3)
    b = stratified_split(m, FR, seed=3)
    assert a.split.tolist() == b.split.tolist()
    shuffled = m.sample(frac=1.0, random_state=0).reset_index(drop=True)
    c = stratified_split(shuffled, FR, seed=3)
    assert dict(zip(c.id, c.split)) == dict(zip(a.id, a.split))
    d = stratified_split(m, FR, seed=4)
    assert d.split.tolist() != a.split.tolist()
    assert (_table(d) == _table(a)).all().all()  # same counts, other rows


def test_other_classes_unchanged_when_one_is_removed():
    m = _manifest([50, 40, 30])
    full = stratified_split(m, FR, seed=0)
    part = stratified_split(m[m.label != 1], FR, seed=0)
    assert dict(zip(part.id, part.split)) == {
        i: s for i, s, lab in zip(full.id, full.split, full.label) if lab != 1
    }


def test_input_not_modified_and_other_columns_kept():
    m = _manifest([20, 20])
    m["title"] = "t"
    before = m.copy()
    out = stratified_split(m, FR)
    pd.testing.assert_frame_equal(m, before)
    assert (out.title == "t").all() and (out.split != "").all()


def test_string_labels_and_unlabelled_group():
    df = pd.DataFrame(
        {"id": [f"x{i}" for i in range(40)], "name": ["cat"] * 20 + ["dog"] * 20}
    )
    out = stratified_split(df, FR, label_col="name")
    t = pd.crosstab(out.name, out.split)
    assert t.loc["cat"].tolist() == [2, 16, 2]  # columns sorted: test, train, val
    m = _manifest([10])
    m.loc[5:, "label"] = -1
    out = stratified_split(m, FR)
    assert sorted(_table(out).index) == [-1, 0]


def test_webvision_split_four_percent_halved():
    m = _manifest([100, 75, 250])
    out = webvision_split(m, holdout=0.04, seed=0)
    t = _table(out)[["train", "val", "test"]]
    assert t.loc[0].tolist() == [96, 2, 2]
    assert t.loc[1].tolist() == [72, 2, 1]
    assert t.loc[2].tolist() == [240, 5, 5]
    assert out.split.tolist() == webvision_split(m, seed=0).split.tolist()


def test_empty_manifest():
    out = stratified_split(make_manifest([]), FR)
    assert len(out) == 0 and "split" in out.columns


@pytest.mark.parametrize(
    "fractions, match",
    [
        ({}, "empty"),
        ({"train": 0.5, "val": 0.4}, "add up to 1"),
        ({"train": 1.2, "val": -0.2}, r"\[0, 1\]"),
    ],
)
def test_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        stratified_split(_manifest([5]), fractions)


def test_bad_arguments():
    with pytest.raises(ValueError, match="no column 'klass'"):
        stratified_split(_manifest([5]), FR, label_col="klass")
    with pytest.raises(ValueError, match="holdout"):
        webvision_split(_manifest([5]), holdout=0.0)
