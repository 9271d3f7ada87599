"""mmvision.samplers: class index, balanced pairs, class triplets."""

import subprocess
import sys

import numpy as np
import pytest

from mmvision import samplers
from mmvision.data import pipelines

LABELS = np.array([0, 0, 1, 1, 1, 2, 5, 5])


def _rows(ds):
    return [{k: int(v) for k, v in e.items()} for e in ds.as_numpy_iterator()]


def test_class_index_errors():
    with pytest.raises(ValueError, match="unlabelled"):
        samplers.ClassIndex([0, -1, 1], "t")
    with pytest.raises(ValueError, match="2 classes"):
        samplers.ClassIndex([3, 3], "t")
    with pytest.raises(ValueError, match="2 or more"):
        samplers.ClassIndex([0, 1, 2], "t")
    idx = samplers.ClassIndex(LABELS, "t")
    assert idx.n == len(LABELS) and list(idx.counts) == [2, 3, 1, 2]


def test_balanced_pairs_alternate_and_resample():
    ds = samplers.balanced_pairs(LABELS, 20, seed=7)
    e1, e2 = _rows(ds), _rows(ds)
    assert [p["same"] for p in e1] == [1, 0] * 10
    for p in e1:
        assert p["a"] != p["b"]
        assert (LABELS[p["a"]] == LABELS[p["b"]]) == bool(p["same"])
    assert e1 != e2
    assert _rows(samplers.balanced_pairs(LABELS, 20, seed=7)) == e1
    fixed = samplers.balanced_pairs(LABELS, 20, seed=7, resample=False)
    assert _rows(fixed) == _rows(fixed)
    assert len(_rows(samplers.balanced_pairs(LABELS))) == len(LABELS)


def test_class_triplets():
    for t in _rows(samplers.class_triplets(LABELS, 30, seed=1)):
        a, p, n = t["anchor"], t["positive"], t["negative"]
        assert a != p and LABELS[a] == LABELS[p] != LABELS[n]


def test_registry_and_pipeline_reexports():
    assert samplers.SAMPLERS == {
        "pairs": samplers.balanced_pairs,
        "triplets": samplers.class_triplets,
        "pk": samplers.pk_sampler,
    }
    assert pipelines.sample_pair_indices is samplers.sample_pair_indices
    assert pipelines._ClassIndex is samplers.ClassIndex
    a, b, same = samplers.sample_pair_indices(LABELS, 10, seed=2)
    np.testing.assert_array_equal(LABELS[a] == LABELS[b], same.astype(bool))


def test_samplers_do_not_import_pipelines():
    code = (
        "import sys, mmvision.samplers; "
        "assert 'mmvision.data.pipelines' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_in_class_triplets_order_class_mates_by_relevance():
    from mmvision.samplers.triplets import class_triplets

    labels = np.repeat(np.arange(4), 6)
    gold = np.random.default_rng(0).normal(size=(len(labels), 3))
    ds = class_triplets(labels, 2000, seed=1, in_class_fraction=0.6, relevance=gold)
    rows = [(int(e["anchor"]), int(e["positive"]), int(e["negative"])) for e in ds]
    a, p, n = np.array(rows).T  # one epoch (each iteration draws a new one)
    assert (labels[a] == labels[p]).all() and (a != p).all()
    inside = labels[n] == labels[a]
    assert 0.55 < inside.mean() < 0.65  # the fraction asked for
    d = lambda x, y: ((gold[x] - gold[y]) ** 2).sum(1)  # noqa: E731
    assert (d(a, p)[inside] <= d(a, n)[inside]).all()
    assert (n[inside] != a[inside]).all()
    plain = class_triplets(labels, 200, seed=1)
    assert all(labels[int(e["negative"])] != labels[int(e["anchor"])] for e in plain)
    with pytest.raises(ValueError, match="relevance"):
        class_triplets(labels, 10, in_class_fraction=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        class_triplets(labels, 10, in_class_fraction=1.0, relevance=gold)
