"""mmvision.samplers.pk_batches: P x K class-balanced batches."""

from __future__ import annotations

import numpy as np
import pytest

from mmvision import samplers

# Classes 0..5 with 3..8 rows, shuffled; class 9 has 2 rows (short for k=3).
_RNG = np.random.default_rng(0)
LABELS = _RNG.permutation(np.repeat([0, 1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]))
SHORT = np.concatenate([LABELS, [9, 9]])


def _batches(ds):
    return [b.tolist() for b in ds.as_numpy_iterator()]


def _check_batch(batch, labels, p, k):
    groups = np.asarray(batch).reshape(p, k)
    classes = [set(labels[g].tolist()) for g in groups]
    assert all(len(c) == 1 for c in classes)  # each group is one class
    assert len({c.pop() for c in classes}) == p  # p distinct classes
    for g in groups:
        assert len(set(g.tolist())) == k  # no row twice within a class group


def test_every_batch_is_p_classes_by_k_distinct_rows():
    ds = samplers.pk_batches(LABELS, p=3, k=3, n_batches=40, seed=1)
    batches = _batches(ds)
    assert len(batches) == 40
    assert ds.element_spec.shape == (9,) and ds.element_spec.dtype.name == "int64"
    for b in batches:
        _check_batch(b, LABELS, 3, 3)
    # k equal to a class's size takes all its rows; every class gets drawn.
    for b in _batches(samplers.pk_batches(LABELS, p=6, k=3, n_batches=10)):
        _check_batch(b, LABELS, 6, 3)
        rows = np.asarray(b).reshape(6, 3)
        zero = [g for g in rows if LABELS[g[0]] == 0][0]
        assert sorted(zero) == sorted(np.nonzero(LABELS == 0)[0])


def test_rows_are_uniform_within_class():
    ds = samplers.pk_batches(LABELS, p=6, k=2, n_batches=600, seed=3)
    hits = np.bincount(np.concatenate(_batches(ds)), minlength=len(LABELS))
    # Every class is in every batch (p = 6 classes): row of class c drawn
    # 600 * 2 / count(c) times on average.
    expected = 1200 / np.bincount(LABELS)[LABELS]
    assert (hits > 0).all()
    np.testing.assert_allclose(hits / expected, 1.0, atol=0.25)


def test_seed_reproducible_and_epochs_resample():
    a = samplers.pk_batches(LABELS, 2, 3, n_batches=5, seed=7)
    e1, e2 = _batches(a), _batches(a)
    assert e1 != e2  # a new draw every epoch
    b = samplers.pk_batches(LABELS, 2, 3, n_batches=5, seed=7)
    assert _batches(b) == e1 and _batches(b) == e2  # same sequence of epochs
    assert _batches(samplers.pk_batches(LABELS, 2, 3, n_batches=5, seed=8)) != e1
    fixed = samplers.pk_batches(LABELS, 2, 3, n_batches=5, seed=7, resample=False)
    assert _batches(fixed) == _batches(fixed)


def test_default_batches_per_epoch():
    # 33 rows // (2 * 3) = 5 batches.
    assert len(_batches(samplers.pk_batches(LABELS, 2, 3))) == len(LABELS) // 6


def test_short_class_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"class 9: 2 rows.*strict=False"):
        samplers.pk_batches(SHORT, p=2, k=3)


def test_not_strict_leaves_short_classes_out():
    info = samplers.pk_classes(SHORT, 2, 3, strict=False)
    assert info.left_out == {9: 2}
    assert info.classes == (0, 1, 2, 3, 4, 5) and info.rows == len(LABELS)
    ds = samplers.pk_batches(SHORT, p=6, k=3, n_batches=20, strict=False)
    for b in _batches(ds):
        _check_batch(b, SHORT, 6, 3)
        assert 9 not in SHORT[b]


def test_fewer_than_p_eligible_classes():
    with pytest.raises(ValueError, match="at least p=7 classes"):
        samplers.pk_batches(LABELS, p=7, k=2)
    # Eligible classes for k=6: 3, 4, 5 only.
    with pytest.raises(ValueError, match=r"got 3; left out .*class 0: 3 rows"):
        samplers.pk_batches(LABELS, p=4, k=6, strict=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"p": 0, "k": 2}, "p must be"),
        ({"p": 2, "k": 1.5}, "k must be"),
        ({"p": 2, "k": 2, "n_batches": 0}, "n_batches"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        samplers.pk_batches(LABELS, **kwargs)


def test_bad_labels():
    with pytest.raises(ValueError, match="unlabelled"):
        samplers.pk_batches([0, 0, -1, 1, 1], 2, 2)
    with pytest.raises(ValueError, match="1-D"):
        samplers.pk_batches(np.zeros((2, 2), int), 2, 2)


def test_registered_as_pk():
    fn = samplers.SAMPLERS["pk"]
    assert fn is samplers.pk_sampler
    batches = _batches(fn(LABELS, 3, seed=2, p=2, k=3))
    assert len(batches) == 3
    for b in batches:
        _check_batch(b, LABELS, 2, 3)
    assert batches == _batches(samplers.pk_batches(LABELS, 2, 3, 3, seed=2))
