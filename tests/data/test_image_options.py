"""ImageOptions: the same batches as the keywords it gathers; conflicts refused."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from mmvision.data import pipelines as P
from mmvision.data.manifest import make_manifest
from mmvision.data.pipelines import ImageOptions
from mmvision.data.vocabulary import Vocabulary

SIZE = 8


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("options")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        path = d / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
        rows.append(
            dict(id=f"s{i}", image_path=str(path), label=i % 2, split="train",
                 captions=[f"a red thing {i}", "a blue square"])
        )  # fmt: skip
    return make_manifest(rows)


KW = dict(
    image_size=SIZE, crop="center", normalization="symmetric",
    augment="siamese", min_side=2, deterministic=True,
)  # fmt: skip


def _arrays(ds):
    out = []
    for x in ds:
        for t in x if isinstance(x, tuple) else (x,):
            if isinstance(t, dict):
                out.extend(t[k].numpy() for k in sorted(t))
            else:
                out.append(t.numpy())
    return out


def _same(a, b):
    xa, xb = _arrays(a), _arrays(b)
    assert len(xa) == len(xb) > 0
    for u, v in zip(xa, xb):
        np.testing.assert_array_equal(u, v)


def test_options_give_the_same_batches_as_keywords(world):
    opts = ImageOptions(**KW)
    common = dict(batch_size=4, seed=3)
    _same(
        P.classification_dataset(world, **common, **KW),
        P.classification_dataset(world, **common, image_options=opts),
    )
    vocab = Vocabulary.build([c for cs in world["captions"] for c in cs])
    _same(
        P.caption_dataset(world, vocab, 6, **common, **KW),
        P.caption_dataset(world, vocab, 6, **common, image_options=opts),
    )
    _same(
        P.pair_dataset(world, **common, **KW),
        P.pair_dataset(world, **common, image_options=opts),
    )
    _same(
        P.triplet_dataset(world, **common, **KW),
        P.triplet_dataset(world, **common, image_options=opts),
    )


def test_defaults_are_the_old_keyword_defaults():
    opts = P.resolve_image_options(None)
    assert opts == ImageOptions()
    assert opts.image_size == (224, 224) and opts.crop == "none"
    assert opts.normalization == "raw" and opts.augment is None
    assert opts.apply_exif and not opts.strict and opts.min_side == 1
    assert opts.num_parallel_calls == P.AUTOTUNE and opts.stats_max_images == 1000


def test_conflicting_keyword_is_an_error_naming_it(world):
    opts = ImageOptions(image_size=SIZE, crop="center")
    with pytest.raises(ValueError, match="image_size"):
        P.classification_dataset(world, image_options=opts, image_size=16)
    for fn in (P.pair_dataset, P.triplet_dataset):
        with pytest.raises(ValueError, match="crop"):
            fn(world, image_options=opts, crop="none")
    with pytest.raises(ValueError, match="normalization"):
        P.caption_dataset(world, {}, image_options=opts, normalization="unit")
    # Agreeing keywords are fine (an int size is the square tuple).
    ds = P.classification_dataset(
        world, image_options=opts, image_size=SIZE, crop="center", batch_size=None
    )
    assert next(iter(ds))[0]["image"].shape == (SIZE, SIZE, 3)


def test_options_are_frozen_and_validated():
    opts = ImageOptions(image_size=(6, 9), mean_std=([1, 2, 3], np.ones(3)))
    assert opts.image_size == (6, 9) and opts.mean_std == ((1, 2, 3), (1, 1, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.crop = "center"
    assert opts.replace(crop="random").crop == "random" and opts.crop == "none"
    with pytest.raises(ValueError, match="crop"):
        ImageOptions(crop="middle")
    with pytest.raises(ValueError, match="normalization"):
        ImageOptions(normalization="imagenet")
    with pytest.raises(ValueError, match="ImageOptions"):
        P.resolve_image_options({"image_size": 8})
    assert set(P.IMAGE_KEYWORDS) >= {"image_size", "crop", "augment", "apply_exif"}
