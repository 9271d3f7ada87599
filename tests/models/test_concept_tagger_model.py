"""mmvision.models.concept_tagger: caption-word targets, the tagger model, its
dataset and the word mAP."""

from __future__ import annotations

import numpy as np
import pytest

from mmvision.data.vocabulary import Vocabulary
from mmvision.models import concept_tagger as ct


def test_word_targets_are_caption_shares():
    vocab = Vocabulary.build(["red circle", "red disc", "blue star"])
    t = ct.word_targets(
        [["A red circle .", "red disc on the left", "a RED red dot"], [], None],
        vocab,
    )
    assert t.shape == (3, len(vocab)) and t.dtype == np.float32
    row = dict(zip(vocab.tokens, t[0]))
    # "red" is in all three captions (counted once per caption), "circle" in one.
    assert row["red"] == pytest.approx(1.0)
    assert row["circle"] == row["disc"] == pytest.approx(1 / 3)
    assert row["blue"] == 0.0
    assert not t[0, :4].any()  # padding, [UNK] ("the", "dot"...), start, end
    assert not t[1:].any()  # images without captions: zero rows


def test_word_map_matches_sklearn_and_skips_constant_words():
    from sklearn.metrics import average_precision_score

    targets = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 1.0], [0.2, 0.0, 0.0]])
    scores = np.array([[0.9, 0.3, 0.2], [0.1, 0.2, 0.8], [0.4, 0.1, 0.6]])
    want = np.mean(
        [average_precision_score(targets[:, j] > 0, scores[:, j]) for j in (0, 2)]
    )
    assert ct.word_map(targets, scores) == pytest.approx(want)
    assert np.isnan(ct.word_map(np.zeros((3, 2)), scores[:, :2]))


def test_concept_model_shapes_and_round_trip(tmp_path):
    import keras

    from mmvision.models import image_towers

    tower = image_towers.get("small_cnn", (32, 32, 3))
    model = ct.build_concept_model(tower, 9)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    y = np.asarray(model({"image": x}))
    assert y.shape == (2, 9) and (y > 0).all() and (y < 1).all()
    assert model.get_layer("image_tower") is tower
    assert model.get_layer(ct.OUTPUT_LAYER).units == 9
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(back({"image": x})), y, atol=1e-6)


def test_concept_dataset_rows_keep_their_targets(demo_world):
    from mmvision.data import caption_data as cd

    manifest, _, _ = cd.read_caption_manifest(demo_world)
    rows = manifest[manifest["split"] == "val"].iloc[:20].reset_index(drop=True)
    vocab = Vocabulary.build(rows["captions"])
    targets = ct.word_targets(rows["captions"], vocab)
    by_row = {tuple(t) for t in targets}
    ds = ct.concept_dataset(rows, targets, 32, batch_size=8, training=True, seed=1)
    n = 0
    for x, y in ds:
        assert x["image"].shape[1:] == (32, 32, 3) and y.shape[1] == len(vocab)
        assert all(tuple(t) in by_row for t in y.numpy())
        n += len(y)
    assert n == len(rows)  # the demo world's val images all decode
    # Unshuffled: manifest order, row for row.
    ys = [y.numpy() for _, y in ct.concept_dataset(rows, targets, 32, 8, False)]
    np.testing.assert_array_equal(np.concatenate(ys), targets)
    with pytest.raises(ValueError, match="target rows"):
        ct.concept_dataset(rows, targets[:3], 32, batch_size=8, training=False)
