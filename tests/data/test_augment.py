"""mmvision.data.augment: every op eagerly and inside Dataset.map."""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf

from mmvision.data import augment as A
from tests.badfiles import _pattern

IMG = _pattern(16, 16).astype(np.float32)
SEED = tf.constant([7, 11])

OPS = {
    "flip": functools.partial(A.random_flip, p=0.5),
    "resized_crop": functools.partial(A.random_resized_crop, p=0.7),
    "jitter": functools.partial(A.color_jitter, p=0.8),
    "rotation": functools.partial(A.random_rotation, p=0.9),
    "vertical_flip": functools.partial(A.random_vertical_flip, p=0.5),
    "rot90": functools.partial(A.random_rot90, p=0.8),
    "dihedral": A.get("dihedral"),
    "siamese": A.get("siamese"),
    "deep_ranking": A.get("deep_ranking"),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_eager_equals_map_and_keeps_shape_and_range(name):
    op = OPS[name]
    eager = op(tf.constant(IMG), seed=SEED).numpy()
    mapped = next(
        iter(tf.data.Dataset.from_tensors(IMG).map(lambda x: op(x, seed=SEED)))
    ).numpy()
    assert eager.shape == IMG.shape and eager.dtype == np.float32
    np.testing.assert_allclose(eager, mapped, atol=1e-3)
    assert eager.min() >= -1e-3 and eager.max() <= 255 + 1e-3
    # Same seed, same output; unseeded calls work too.
    np.testing.assert_allclose(op(tf.constant(IMG), seed=SEED).numpy(), eager)
    assert op(tf.constant(IMG)).shape == IMG.shape


def test_flip_probability_extremes_and_rate():
    flipped = A.random_flip(IMG, p=1.0, seed=SEED).numpy()
    np.testing.assert_array_equal(flipped, IMG[:, ::-1])
    np.testing.assert_array_equal(A.random_flip(IMG, p=0.0, seed=SEED).numpy(), IMG)
    n = sum(
        bool(np.any(A.random_flip(IMG, p=0.5, seed=[i, 1]).numpy() != IMG))
        for i in range(200)
    )
    assert 70 <= n <= 130  # Binomial(200, 0.5): ~7 sigma band
    with pytest.raises(ValueError, match="probability"):
        A.random_flip(IMG, p=1.5)


def test_dihedral_ops_are_exact_symmetries():
    np.testing.assert_array_equal(
        A.random_vertical_flip(IMG, p=1.0, seed=SEED).numpy(), IMG[::-1]
    )
    np.testing.assert_array_equal(A.random_rot90(IMG, p=0.0, seed=SEED).numpy(), IMG)
    turns = [np.rot90(IMG, k) for k in range(4)]
    seen = set()
    for i in range(40):
        out = A.random_rot90(IMG, p=1.0, seed=[i, 3]).numpy()
        k = [j for j, t in enumerate(turns) if np.array_equal(out, t)]
        assert len(k) == 1  # always exactly one quarter turn, no interpolation
        seen.add(k[0])
    assert seen == {0, 1, 2, 3}
    # The preset reaches all 8 symmetries of the square and only those.
    group = {np.ascontiguousarray(f(t)).tobytes() for t in turns for f in (
        lambda x: x, lambda x: x[:, ::-1])}  # fmt: skip
    outs = {A.get("dihedral")(IMG, seed=[i, 5]).numpy().tobytes() for i in range(120)}
    assert outs == group and len(group) == 8


def test_adjust_color_hand_computed():
    np.testing.assert_allclose(A.adjust_color(IMG).numpy(), IMG, atol=0.05)
    got = A.adjust_color(IMG, brightness=1.1).numpy()
    np.testing.assert_allclose(got, np.clip(IMG * 1.1, 0, 255), atol=0.05)
    got = A.adjust_color(IMG, contrast=0.9).numpy()
    mean = IMG.mean(axis=(0, 1))
    np.testing.assert_allclose(got, (IMG - mean) * 0.9 + mean, atol=0.05)
    gray = np.full((2, 2, 3), 100.0, np.float32)
    # Hue and saturation leave gray alone.
    np.testing.assert_allclose(
        A.adjust_color(gray, saturation=1.1, hue=0.1).numpy(), gray, atol=0.05
    )
    red = np.zeros((1, 1, 3), np.float32)
    red[..., 0] = 255
    # Hue + 1/3 of the circle turns red into green.
    np.testing.assert_allclose(
        A.adjust_color(red, hue=1 / 3).numpy()[0, 0], [0, 255, 0], atol=0.5
    )


def test_color_jitter_stays_in_documented_band():
    # Brightness only, factor in [0.9, 1.1].
    for i in range(20):
        out = A.color_jitter(IMG, p=1.0, contrast=0, saturation=0, hue=0, seed=[i, 2])
        ratio = out.numpy().sum() / IMG.sum()
        assert 0.89 <= ratio <= 1.11
    with pytest.raises(ValueError, match="hue"):
        A.color_jitter(IMG, hue=0.7)


def test_rotate_quarter_turn_matches_rot90_and_zero_is_identity():
    sq = _pattern(9, 9).astype(np.float32)
    np.testing.assert_allclose(A.rotate(sq, 0.0).numpy(), sq, atol=1e-3)
    quarter = A.rotate(sq, math.pi / 2).numpy()
    np.testing.assert_allclose(quarter, np.rot90(sq, k=1), atol=1e-2)
    in_map = next(
        iter(tf.data.Dataset.from_tensors(sq).map(lambda x: A.rotate(x, math.pi / 2)))
    )
    np.testing.assert_allclose(in_map.numpy(), quarter, atol=1e-4)
    # Random rotation within +-pi/3 leaves the centre pixel in place.
    out = A.random_rotation(sq, p=1.0, seed=SEED).numpy()
    np.testing.assert_allclose(out[4, 4], sq[4, 4], atol=1e-2)


def test_random_resized_crop_full_box_is_identity():
    out = A.random_resized_crop(
        IMG, p=1.0, scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=SEED
    )
    np.testing.assert_allclose(out.numpy(), IMG, atol=1e-3)
    with pytest.raises(ValueError, match="scale"):
        A.random_resized_crop(IMG, scale=(0.0, 1.0))


def test_random_crop_window_or_centre_eager_and_map():
    img = np.arange(8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3)
    centre = A.random_crop(img, 4, p=0.0, seed=SEED).numpy()
    np.testing.assert_array_equal(centre, img[2:6, 2:6])
    out = A.random_crop(img, (4, 5), p=1.0, seed=SEED).numpy()
    top, left = int(out[0, 0, 0] // 24), int(out[0, 0, 0] % 24 // 3)
    np.testing.assert_array_equal(out, img[top : top + 4, left : left + 5])
    in_map = next(
        iter(
            tf.data.Dataset.from_tensors(img).map(
                lambda x: A.random_crop(x, (4, 5), p=1.0, seed=SEED)
            )
        )
    )
    np.testing.assert_array_equal(in_map.numpy(), out)


def test_presets_and_registry():
    assert A.get(None) is None
    assert "random_rotation" in repr(A.get("siamese"))
    np.testing.assert_array_equal(A.get("none")(IMG, seed=SEED).numpy(), IMG)
    fn = lambda x, seed=None: x
    assert A.get(fn) is fn
    with pytest.raises(ValueError, match="deep_ranking"):
        A.get("autoaugment")
