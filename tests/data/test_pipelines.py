"""mmvision.data.pipelines: classification, captions, pairs, triplets."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmvision.data import pipelines as P
from mmvision.data.images import PipelineStats
from mmvision.data.manifest import make_manifest
from mmvision.data.vocabulary import Vocabulary
from tests.badfiles import bad, build_bad_corpus, good

SIZE = 8


def _colour(i):
    return np.array([(37 * i) % 256, (91 * i) % 256, (53 * i + 20) % 256], np.uint8)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """12 flat-colour PNGs (value identifies the row), 3 classes, train/val."""
    d = tmp_path_factory.mktemp("world")
    rows = []
    for i in range(12):
        path = d / f"img {i}.png"
        Image.fromarray(np.tile(_colour(i), (12, 10, 1))).save(path)
        rows.append(
            dict(
                id=f"s{i:03d}",
                image_path=str(path),
                label=i % 3,
                label_name=f"class{i % 3}",
                title=f"title {i}",
                description=f"desc {i}",
                tags=["t", str(i)],
                captions=[f"red circle number {i}", "blue square"],
                split="val" if i >= 6 else "train",
            )
        )
    return make_manifest(rows)


@pytest.fixture(scope="module")
def bad_world(tmp_path_factory):
    corpus = build_bad_corpus(tmp_path_factory.mktemp("bad"))
    rows = [
        dict(id=f.name, image_path=f.path, label=k % 2, title=f.name)
        for k, f in enumerate(corpus)
    ]
    return corpus, make_manifest(rows)


def _ids(ds):
    out = []
    for feats, _ in ds:
        out.extend(x.decode() for x in feats["id"].numpy())
    return out


def test_classification_values_fields_and_labels(world):
    ds = P.classification_dataset(
        world, image_size=SIZE, batch_size=5, fields=("image", "id", "title", "tags")
    )
    feats, labels = next(iter(ds))
    assert (
        feats["image"].shape == (5, SIZE, SIZE, 3)
        and feats["image"].dtype == tf.float32
    )
    assert feats["title"].numpy()[1] == b"title 1"
    assert feats["tags"].numpy()[1] == b"t 1"
    np.testing.assert_array_equal(labels.numpy(), [0, 1, 2, 0, 1])
    for k in range(5):  # raw [0,255] pixels of the flat colour
        np.testing.assert_allclose(
            feats["image"].numpy()[k], np.broadcast_to(_colour(k), (SIZE, SIZE, 3))
        )
    assert _ids(ds) == list(world["id"])


def test_classification_categorical_split_and_unit(world):
    ds = P.classification_dataset(
        world, image_size=SIZE, batch_size=None, label_mode="categorical",
        split="val", normalization="unit", fields=("image", "id"),
    )  # fmt: skip
    items = list(ds)
    assert [f["id"].numpy().decode() for f, _ in items] == [
        f"s{i:03d}" for i in range(6, 12)
    ]
    np.testing.assert_array_equal(items[0][1].numpy(), [1, 0, 0])
    np.testing.assert_allclose(
        items[1][0]["image"].numpy()[0, 0], _colour(7) / 255.0, rtol=1e-6
    )
    with pytest.raises(ValueError, match="split"):
        P.classification_dataset(world, split="holdout")
    with pytest.raises(ValueError, match="valid"):
        P.classification_dataset(world, fields=("image", "caption"))
    with pytest.raises(ValueError, match="categorical"):
        P.classification_dataset(world, label_mode="onehot")


def test_standardize_uses_data_statistics(world):
    ds = P.classification_dataset(
        world, image_size=SIZE, normalization="standardize", split="train"
    )
    st = P.dataset_stats(ds)
    pix = np.stack([_colour(i) for i in range(6)]).astype(np.float64)
    np.testing.assert_allclose(st.mean, pix.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st.std, pix.std(0), rtol=1e-5)
    x = np.concatenate([f["image"].numpy() for f, _ in ds])
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0, atol=1e-4)
    # The validation pipeline reuses the training statistics.
    val = P.classification_dataset(world, image_size=SIZE, normalization="standardize",
                                   mean_std=(st.mean, st.std), split="val")  # fmt: skip
    v = next(iter(val))[0]["image"].numpy()[0, 0, 0]
    np.testing.assert_allclose(v, (_colour(6) - pix.mean(0)) / pix.std(0), rtol=1e-4)


def test_shuffle_seeded_reshuffles_each_epoch(world):
    mk = lambda: P.classification_dataset(
        world, image_size=SIZE, fields=("id",), shuffle=True, seed=3, batch_size=4
    )
    a, b = mk(), mk()
    e1, e2 = _ids(a), _ids(a)
    assert sorted(e1) == sorted(world["id"]) and e1 != e2
    assert _ids(b) == e1 and _ids(b) == e2  # same seed, same sequence of epochs
    cached = P.classification_dataset(
        world, image_size=SIZE, fields=("id",), shuffle=True, seed=3, cache=True,
        shuffle_buffer=50,
    )  # fmt: skip
    c1, c2 = _ids(cached), _ids(cached)
    assert sorted(c1) == sorted(world["id"]) and c1 != c2


def test_sharding_tuple_and_input_context(world):
    parts = [
        _ids(
            P.classification_dataset(
                world, image_size=SIZE, fields=("id",), shard=(3, i)
            )
        )
        for i in range(3)
    ]
    assert sorted(sum(parts, [])) == sorted(world["id"])
    assert all(len(p) == 4 for p in parts)
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1)
    assert (
        _ids(
            P.classification_dataset(world, image_size=SIZE, fields=("id",), shard=ctx)
        )
        == parts[1]
    )


def test_augment_and_random_crop_in_pipeline(world):
    ds = P.classification_dataset(
        world,
        image_size=SIZE,
        crop="random",
        augment="siamese",
        seed=1,
        batch_size=None,
    )
    for feats, _ in ds:
        x = feats["image"].numpy()
        assert x.shape == (SIZE, SIZE, 3) and 0 <= x.min() and x.max() <= 255


def test_bad_files_survive_or_are_counted(bad_world):
    corpus, manifest = bad_world
    ds = P.classification_dataset(
        manifest, image_size=SIZE, fields=("id",), batch_size=4
    )
    assert _ids(ds) == [f.name for f in good(corpus)]
    want = {}
    for f in bad(corpus):
        want[f.expect] = want.get(f.expect, 0) + 1
    assert dict(P.dataset_stats(ds).skipped) == want
    strict = P.classification_dataset(manifest, image_size=SIZE, strict=True)
    with pytest.raises(
        Exception,
        match=r"zero\.jpg|truncated\.jpg|garbage\.jpg|text\.jpg|dangling\.jpg",
    ):
        list(strict)


def test_unlabelled_rows_counted(world):
    m = world.copy()
    m.loc[0, "label"] = -1
    stats = PipelineStats()
    ds = P.classification_dataset(m, image_size=SIZE, fields=("id",), stats=stats)
    assert "s000" not in _ids(ds) and stats.skipped["unlabelled"] == 1
    ds = P.classification_dataset(m, image_size=SIZE, fields=("id",), label_mode="none")
    assert len(list(ds.unbatch())) == 12


def test_fit_runs(world):
    import keras

    inp = keras.Input((SIZE, SIZE, 3), name="image")
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inp))
    model = keras.Model({"image": inp}, out)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = P.classification_dataset(
        world, image_size=SIZE, batch_size=4, normalization="unit"
    )
    hist = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


# ------------------------------------------------------------------ captions
@pytest.fixture(scope="module")
def vocab(world):
    return Vocabulary.build([c for cs in world["captions"] for c in cs])


def test_caption_teacher_forcing(world, vocab):
    ds = P.caption_dataset(
        world,
        vocab,
        max_len=6,
        image_size=SIZE,
        batch_size=None,
        fields=("image", "id"),
    )
    items = list(ds)
    assert len(items) == 24  # 12 images x 2 captions
    feats, out = items[0]
    ids = vocab.encode("red circle number 0")  # [start, red, circle, number, end]
    assert len(ids) == 5  # "0" holds a digit: dropped by clean_caption
    np.testing.assert_array_equal(feats["tokens_in"].numpy(), ids[:-1] + [0, 0])
    np.testing.assert_array_equal(out.numpy(), ids[1:] + [0, 0])
    np.testing.assert_allclose(feats["image"].numpy()[0, 0], _colour(0))
    assert feats["id"].numpy() == b"s000" and items[1][0]["id"].numpy() == b"s000"
    # Truncation keeps max_len inputs.
    feats, out = next(
        iter(
            P.caption_dataset(world, vocab, max_len=2, image_size=SIZE, batch_size=None)
        )
    )
    np.testing.assert_array_equal(feats["tokens_in"].numpy(), ids[:2])
    np.testing.assert_array_equal(out.numpy(), ids[1:3])


def test_caption_per_word_and_text_vectorization(world, vocab):
    idx, ins, outs = P.caption_sequences(
        ["blue square"], vocab, max_len=4, per_word=True
    )
    ids = vocab.encode("blue square")  # start blue square end
    np.testing.assert_array_equal(
        ins, [[0, 0, 0, ids[0]], [0, 0, ids[0], ids[1]], [0, ids[0], ids[1], ids[2]]]
    )
    np.testing.assert_array_equal(outs, ids[1:])
    tv = vocab.text_vectorization(max_len=8)
    _, ins2, outs2 = P.caption_sequences(["blue square"], tv, max_len=4)
    _, ins1, outs1 = P.caption_sequences(["blue square"], vocab, max_len=4)
    np.testing.assert_array_equal(ins1, ins2)
    np.testing.assert_array_equal(outs1, outs2)
    ds = P.caption_dataset(
        world, vocab, max_len=4, per_word=True, image_size=SIZE, batch_size=3
    )
    feats, y = next(iter(ds))
    assert feats["tokens_in"].shape == (3, 4) and y.shape == (3,)


def test_caption_precomputed_features(world, vocab):
    feats = {f"s{i:03d}": np.full(4, i, np.float32) for i in range(12) if i != 5}
    stats = PipelineStats()
    ds = P.caption_dataset(
        world, vocab, max_len=5, features=feats, batch_size=None, stats=stats
    )
    items = list(ds)
    assert len(items) == 22 and stats.skipped["missing_features"] == 1
    assert "image" not in items[0][0]
    np.testing.assert_array_equal(items[2][0]["image_features"].numpy(), np.full(4, 1))
    arr = np.arange(12 * 2, dtype=np.float32).reshape(12, 2)
    ds = P.caption_dataset(world, vocab, features=arr, batch_size=None)
    np.testing.assert_array_equal(next(iter(ds))[0]["image_features"].numpy(), arr[0])
    with pytest.raises(ValueError, match="rows"):
        P.caption_dataset(world, vocab, features=arr[:3])


# ---------------------------------------------------------- pairs / triplets
def _row_of_colour(world, img):
    c = img[0, 0]
    for i in range(len(world)):
        if np.allclose(c, _colour(i)):
            return i
    raise AssertionError(f"unknown colour {c}")


def test_pairs_balanced_correct_and_resampled(world):
    ds = P.pair_dataset(world, split="train", image_size=SIZE, batch_size=None, seed=4)
    epoch1 = list(ds)
    assert len(epoch1) == 6
    labels = [float(y) for _, y in epoch1]
    assert labels == [1.0, 0.0] * 3
    pairs1 = []
    for feats, y in epoch1:
        a = _row_of_colour(world, feats["image_a"].numpy())
        b = _row_of_colour(world, feats["image_b"].numpy())
        assert a < 6 and b < 6 and a != b  # train rows only, never itself
        assert (world["label"][a] == world["label"][b]) == bool(y)
        pairs1.append((a, b))
    pairs2 = [
        (
            _row_of_colour(world, f["image_a"].numpy()),
            _row_of_colour(world, f["image_b"].numpy()),
        )
        for f, _ in ds
    ]
    assert pairs1 != pairs2  # resampled every epoch
    again = P.pair_dataset(
        world, split="train", image_size=SIZE, batch_size=None, seed=4
    )
    assert [(_row_of_colour(world, f["image_a"].numpy())) for f, _ in again] == [
        p[0] for p in pairs1
    ]
    val = P.pair_dataset(
        world, split="val", image_size=SIZE, batch_size=None, resample=False, n_pairs=6
    )
    v1 = [tuple(f["image_a"].numpy()[0, 0]) for f, _ in val]
    v2 = [tuple(f["image_a"].numpy()[0, 0]) for f, _ in val]
    assert v1 == v2
    rows = {
        _row_of_colour(world, f[k].numpy())
        for f, _ in val
        for k in ("image_a", "image_b")
    }
    assert rows <= set(range(6, 12))


def test_sample_pair_indices_balanced():
    labels = [0, 0, 1, 1, 1, 2]
    a, b, same = P.sample_pair_indices(labels, 40, seed=1, epoch=0)
    lab = np.array(labels)
    np.testing.assert_array_equal(lab[a] == lab[b], same.astype(bool))
    assert same.mean() == 0.5 and not np.any(a == b)
    a2, _, _ = P.sample_pair_indices(labels, 40, seed=1, epoch=1)
    assert not np.array_equal(a, a2)
    with pytest.raises(ValueError, match="2 classes"):
        P.sample_pair_indices([0, 0, 0], 4)


def test_triplets_sampled_and_from_list(world):
    ds = P.triplet_dataset(world, split=None, image_size=SIZE, batch_size=None, seed=2)
    for feats, y in ds:
        a, p, n = (
            _row_of_colour(world, feats[k].numpy())
            for k in ("anchor", "positive", "negative")
        )
        assert a != p and world["label"][a] == world["label"][p] != world["label"][n]
        assert float(y) == 0.0
    paths = list(world["image_path"])
    triples = [(paths[0], paths[3], paths[1]), (paths[2], paths[5], "/nonexistent.jpg")]
    stats = PipelineStats()
    ds = P.triplet_dataset(
        triples, image_size=SIZE, batch_size=2, dummy_target=False, stats=stats
    )
    batches = list(ds)
    assert len(batches) == 1 and batches[0]["anchor"].shape == (1, SIZE, SIZE, 3)
    assert stats.skipped["missing_file"] == 1
