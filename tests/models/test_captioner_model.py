"""The merge captioner model: masked loss and next-word accuracy, per-word mode,
the decoding step and the caption pipelines that feed it."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from mmvision.data import pipelines
from mmvision.data.vocabulary import Vocabulary
from mmvision.models import captioner as cap_lib
from mmvision.models import image_towers

V, T, D = 12, 6, 5


def _small(per_word=False, **kw):
    keras.utils.set_random_seed(0)
    return cap_lib.build_captioner(
        V, max_len=T, feature_dim=D, embed_dim=8, units=8, dropout=0.1,
        per_word=per_word, **kw,
    )  # fmt: skip


def _batch(n=3, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, D)).astype("float32")
    toks = np.zeros((n, T), "int32")
    targets = np.zeros((n, T), "int32")
    for i in range(n):
        length = int(rng.integers(2, T + 1))
        ids = [2, *rng.integers(4, V, length - 1)]
        toks[i, :length] = ids
        targets[i, : length - 1] = ids[1:]
        targets[i, length - 1] = 3
    return feats, toks, targets


def test_shapes_and_layer_names():
    model = _small()
    feats, toks, _ = _batch()
    out = model({"image_features": feats, "tokens_in": toks})
    assert tuple(out.shape) == (3, T, V)
    np.testing.assert_allclose(out.numpy().sum(-1), 1.0, rtol=1e-5)
    pw = _small(per_word=True)
    assert tuple(pw({"image_features": feats, "tokens_in": toks}).shape) == (3, V)
    names = {layer.name for layer in model.layers}
    assert {"embedding", "lstm", "merge", "feature_dense", "logits"} <= names
    assert model.get_layer("embedding").mask_zero


def test_end_to_end_model_has_named_tower():
    tower = image_towers.get("small_cnn", (32, 32, 3))
    model = cap_lib.build_captioner(
        V, max_len=T, image_tower=tower, units=8, embed_dim=8
    )
    assert model.get_layer("image_tower").output_shape[-1] == 128
    imgs = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    toks = np.array([[2, 4, 5, 0, 0, 0], [2, 6, 0, 0, 0, 0]], "int32")
    assert tuple(model({"image": imgs, "tokens_in": toks}).shape) == (2, T, V)


def test_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        cap_lib.build_captioner(V, max_len=T)
    with pytest.raises(ValueError, match="vocab_size"):
        cap_lib.build_captioner(3, max_len=T, feature_dim=D)


def test_masked_loss_equals_hand_computation():
    y_true = np.array([[5, 3, 0], [4, 6, 3]], "int32")
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(7), size=(2, 3)).astype("float32")
    hand = -np.mean(
        [np.log(probs[0, 0, 5]), np.log(probs[0, 1, 3]), np.log(probs[1, 0, 4]),
         np.log(probs[1, 1, 6]), np.log(probs[1, 2, 3])]
    )  # fmt: skip
    loss = cap_lib.MaskedSparseCategoricalCrossentropy()
    assert float(loss(y_true, probs)) == pytest.approx(hand, rel=1e-5)
    per_tok = cap_lib.masked_sparse_categorical_crossentropy(y_true, probs).numpy()
    assert per_tok[0, 2] == 0.0
    # Padding predictions do not matter at all.
    probs2 = probs.copy()
    probs2[0, 2] = rng.dirichlet(np.ones(7))
    assert float(loss(y_true, probs2)) == pytest.approx(hand, rel=1e-5)


def test_next_word_accuracy_equals_hand_computation():
    """Share of real target tokens whose argmax is right; padding ignored."""
    y_true = np.array([[5, 3, 0, 0], [4, 6, 3, 0]], "int32")
    probs = np.full((2, 4, 7), 0.01, "float32")
    argmax = [[5, 2, 0, 6], [4, 1, 3, 0]]  # right: 5; 4 and 3; the rest padding
    for i, row in enumerate(argmax):
        for t, tok in enumerate(row):
            probs[i, t, tok] = 0.9
    metric = cap_lib.MaskedNextWordAccuracy()
    assert metric.name == "accuracy"
    metric.update_state(y_true, probs)
    assert float(metric.result()) == pytest.approx(3 / 5)
    # Predictions at padding positions change nothing, even "padding" itself.
    probs2 = probs.copy()
    probs2[0, 2:] = 0.01
    probs2[0, 2:, 0] = 0.9
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(y_true, probs2)
    assert float(metric.result()) == pytest.approx(3 / 5)
    # Accumulates over batches by token count, not by batch mean.
    metric.update_state(np.array([[4, 0, 0, 0]], "int32"), probs[1:, :, :])
    assert float(metric.result()) == pytest.approx(4 / 6)
    # Per-word targets [B] with probabilities [B, V].
    pw = cap_lib.MaskedNextWordAccuracy()
    pw.update_state(np.array([5, 3, 0], "int32"), probs[0, :3])  # argmax 5, 2, 0
    assert float(pw.result()) == pytest.approx(1 / 2)


def test_next_word_accuracy_inside_fit_and_evaluate():
    model = _small()
    model.compile(
        "adam",
        loss=cap_lib.MaskedSparseCategoricalCrossentropy(),
        metrics=[cap_lib.MaskedNextWordAccuracy()],
    )
    feats, toks, targets = _batch(4, seed=5)
    x = {"image_features": feats, "tokens_in": toks}
    probs = model.predict(x, verbose=0)
    mask = targets > 0
    hand = (probs.argmax(-1) == targets)[mask].mean()
    got = model.evaluate(x, targets, batch_size=4, verbose=0, return_dict=True)
    assert got["accuracy"] == pytest.approx(hand)


def test_masked_loss_inside_fit_and_evaluate():
    model = _small()
    model.compile("adam", loss=cap_lib.MaskedSparseCategoricalCrossentropy())
    feats, toks, targets = _batch(4, seed=3)
    x = {"image_features": feats, "tokens_in": toks}
    probs = model.predict(x, verbose=0)
    mask = targets > 0
    picked = np.take_along_axis(probs, targets[..., None], -1)[..., 0]
    hand = -np.log(picked[mask]).mean()
    assert model.evaluate(x, targets, batch_size=4, verbose=0) == pytest.approx(
        hand, rel=1e-4
    )
    before = model.evaluate(x, targets, verbose=0)
    model.fit(x, targets, epochs=15, batch_size=4, verbose=0)
    assert model.evaluate(x, targets, verbose=0) < before


def test_per_word_table_has_one_row_per_word_plus_end():
    captions = [
        "A red circle on the left .",
        "blue star",
        "there is a big green square",
    ]
    vocab = Vocabulary.build(captions)
    idx, ins, outs = pipelines.caption_sequences(
        captions, vocab, max_len=8, per_word=True
    )
    n_words = [len(vocab.encode(c, add_special=False)) for c in captions]
    assert len(outs) == sum(n + 1 for n in n_words)
    # The reference expansion: left-padded prefixes, next word as target.
    first = np.nonzero(idx == 1)[0]
    assert ins[first[0]].tolist() == [0] * 7 + [vocab.start_id]
    assert outs[first].tolist() == [
        vocab.index("blue"),
        vocab.index("star"),
        vocab.end_id,
    ]
    _, s_in, s_out = pipelines.caption_sequences(captions, vocab, max_len=8)
    assert len(s_out) == len(captions)  # one example per caption


def test_per_word_and_sequence_models_share_weights():
    seq = _small()
    with pytest.raises(ValueError, match="max_len"):
        cap_lib.convert_captioner(seq, per_word=True)
    pw = cap_lib.convert_captioner(seq, per_word=True, max_len=T)
    feats, toks, _ = _batch(4, seed=2)
    probs = seq.predict({"image_features": feats, "tokens_in": toks}, verbose=0)
    for i in range(4):
        n = int((toks[i] > 0).sum())
        for j in range(1, n + 1):
            prefix = toks[i, :j]
            left = np.concatenate([np.zeros(T - j, "int32"), prefix])[None]
            p = pw.predict(
                {"image_features": feats[i : i + 1], "tokens_in": left}, verbose=0
            )
            np.testing.assert_allclose(p[0], probs[i, j - 1], atol=1e-5)
    back = cap_lib.convert_captioner(pw, per_word=False)
    np.testing.assert_allclose(
        back.predict({"image_features": feats, "tokens_in": toks}, verbose=0),
        probs,
        atol=1e-6,
    )


def test_inference_step_equals_full_model():
    model = _small()
    feats, toks, _ = _batch(3, seed=4)
    probs = model({"image_features": feats, "tokens_in": toks}).numpy()
    inf = cap_lib.CaptionerInference(model)
    state = inf.initial_state(feats)
    for t in range(T):
        lp, state = inf.step(toks[:, t], state)
        real = toks[:, t] > 0
        np.testing.assert_allclose(np.exp(lp.numpy())[real], probs[real, t], atol=1e-5)


def test_keras_round_trip(tmp_path):
    model = _small()
    feats, toks, _ = _batch()
    x = {"image_features": feats, "tokens_in": toks}
    model.compile("adam", loss=cap_lib.MaskedSparseCategoricalCrossentropy())
    path = tmp_path / "cap.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    assert isinstance(loaded.loss, cap_lib.MaskedSparseCategoricalCrossentropy)


def test_caption_dataset_feeds_the_model():
    """The pipeline's feature-mode caption_dataset matches the model inputs."""
    caps = [["a red circle", "red disc"], ["blue star on the left"]]
    m = pd.DataFrame(
        {
            "id": ["x1", "x2"], "image_path": ["/nope1.jpg", "/nope2.jpg"],
            "label": [-1, -1], "label_name": ["", ""], "title": ["", ""],
            "description": ["", ""], "tags": [[], []], "captions": caps,
            "split": ["train", "train"],
        }
    )  # fmt: skip
    vocab = Vocabulary.build([c for cs in caps for c in cs])
    feats = {"x1": np.ones(D, "float32"), "x2": np.zeros(D, "float32")}
    ds = pipelines.caption_dataset(m, vocab, max_len=T, features=feats, batch_size=8)
    x, y = next(iter(ds))
    assert set(x) == {"image_features", "tokens_in"} and y.shape == (3, T)
    model = cap_lib.build_captioner(
        len(vocab), max_len=T, feature_dim=D, units=4, embed_dim=4
    )
    assert tuple(model(x).shape) == (3, T, len(vocab))


def _caption_manifest(caps):
    n = len(caps)
    return pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n)],
            "image_path": [f"/nope{i}.jpg" for i in range(n)],
            "label": [-1] * n, "label_name": [""] * n, "title": [""] * n,
            "description": [""] * n, "tags": [[]] * n, "captions": caps,
            "split": ["train"] * n,
        }
    )  # fmt: skip


def test_padding_to_the_batch_cuts_padding_and_keeps_the_loss():
    """Batches padded to their longest caption give the same masked loss."""
    caps = [["a red circle", "red disc on the left side of the picture"],
            ["blue star"], ["a green square at the top"]]  # fmt: skip
    m = _caption_manifest(caps)
    vocab = Vocabulary.build([c for cs in caps for c in cs])
    feats = {f"x{i}": np.full(D, i, "float32") for i in range(len(caps))}
    kw = dict(max_len=12, features=feats, batch_size=2)
    full = pipelines.caption_dataset(m, vocab, **kw)
    cut = pipelines.caption_dataset(m, vocab, padding="batch", **kw)
    longest = [len(vocab.encode(c)) - 1 for cs in caps for c in cs]  # + start
    got = [int(x["tokens_in"].shape[1]) for x, _ in cut]
    assert got == [max(longest[0:2]), max(longest[2:4])]
    assert all(int(x["tokens_in"].shape[1]) == 12 for x, _ in full)
    for (xf, yf), (xc, yc) in zip(full, cut):
        k = int(yc.shape[1])
        np.testing.assert_array_equal(xf["tokens_in"][:, :k], xc["tokens_in"])
        assert not np.any(yf.numpy()[:, k:])  # only padding was cut
    model = cap_lib.build_captioner(
        len(vocab), max_len=12, feature_dim=D, units=4, embed_dim=4
    )
    model.compile(loss=cap_lib.MaskedSparseCategoricalCrossentropy())
    np.testing.assert_allclose(
        model.evaluate(cut, verbose=0), model.evaluate(full, verbose=0), rtol=1e-5
    )
    # Per-word rows keep the reference's fixed prefix length.
    pw = pipelines.caption_dataset(m, vocab, per_word=True, padding="batch", **kw)
    assert {int(x["tokens_in"].shape[1]) for x, _ in pw} == {12}
    with pytest.raises(ValueError, match="padding"):
        pipelines.caption_dataset(m, vocab, padding="longest", **kw)


def test_bucketed_batches_hold_similar_lengths_and_every_caption_once():
    rng = np.random.default_rng(0)
    words = "red blue green circle star square big small left right top".split()
    caps = [[" ".join(rng.choice(words, int(rng.integers(1, 11))))] for _ in range(80)]
    m = _caption_manifest(caps)
    vocab = Vocabulary.build([c[0] for c in caps])
    feats = {f"x{i}": np.full(D, i, "float32") for i in range(len(caps))}
    lengths = [len(vocab.encode(c[0])) - 1 for c in caps]
    bounds = pipelines.length_buckets(lengths)
    assert bounds == sorted(set(bounds)) and 1 <= len(bounds) <= 3
    ds = pipelines.caption_dataset(
        m, vocab, max_len=16, features=feats, batch_size=8, padding="bucket",
        shuffle=True, seed=1,
    )  # fmt: skip
    seen = []
    for x, y in ds:
        n = (y.numpy() != 0).sum(axis=1)
        assert y.shape[1] == n.max()  # cut to the batch's longest
        bucket = np.searchsorted(bounds, n, side="right")
        assert len(set(bucket)) == 1  # one bucket per batch
        seen.extend(int(v) for v in x["image_features"][:, 0].numpy())
    assert sorted(seen) == list(range(len(caps)))  # nothing lost or repeated
