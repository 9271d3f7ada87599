"""MultimodalClassifier: fusion, missing modalities, save/load, a user script."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmvision.layers.late_fusion import LateFusion
from mmvision.layers.presence_gate import ModalityPresence, PresenceGate
from mmvision.models import build_multimodal_classifier, drop_modality
from mmvision.models.multimodal_classifier import fused_embedding_model

TITLES = ["red circle photo", "blue star", "green heart wallpaper", "", "yellow ring"]
DESCS = ["", "a blue star on white", "", "nice", "ring"]


def batch(n=5, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(0, 255, (n, size, size, 3)).astype("float32"),
        "title": np.array(TITLES[:n], dtype=object),
        "description": np.array(DESCS[:n], dtype=object),
    }


def small_model(**kw):
    args = dict(
        image_size=32,
        text_fields=("title", "description"),
        adapt_texts={"title": TITLES, "description": DESCS},
        text_dim=16,
        hidden_units=32,
        seed=1,
    )
    args.update(kw)
    return build_multimodal_classifier(4, **args)


def test_presence_layers_by_hand():
    pres = ModalityPresence()(tf.constant(["a", "", "  ", "b c"]))
    np.testing.assert_array_equal(pres.numpy()[:, 0], [1, 0, 0, 1])
    img = np.ones((3, 4, 4, 3), "float32")
    img[1] = 0
    np.testing.assert_array_equal(ModalityPresence()(img).numpy()[:, 0], [1, 0, 1])
    feats = np.arange(8, dtype="float32").reshape(4, 2)
    out = PresenceGate()([feats, pres]).numpy()
    np.testing.assert_array_equal(out, feats * np.array([[1], [0], [0], [1]]))


def test_late_fusion_by_hand():
    p1 = np.array([[0.8, 0.2], [0.8, 0.2], [0.8, 0.2]], "float32")
    p2 = np.array([[0.2, 0.8], [0.2, 0.8], [0.2, 0.8]], "float32")
    w1 = np.array([[1], [0], [0]], "float32")
    w2 = np.array([[1], [1], [0]], "float32")
    out = LateFusion()([p1, p2, w1, w2]).numpy()
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]], atol=1e-6)


@pytest.mark.parametrize("fusion", ["concat", "late"])
def test_train_step_and_keras_round_trip(tmp_path, fusion):
    model = small_model(fusion=fusion, modality_dropout=0.3)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = batch(), np.array([0, 1, 2, 3, 0])
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(x, y, epochs=1, verbose=0)
    after = [w.numpy() for w in model.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    probs = model.predict(x, verbose=0)
    assert probs.shape == (5, 4)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)  # no custom_objects
    np.testing.assert_allclose(again.predict(x, verbose=0), probs, atol=1e-6)


def test_missing_text_means_the_same_as_zeroed_text_features():
    """With all text empty, the concat model's output equals the output when the
    text tower features are zero, whatever the towers' biases are."""
    model = small_model()
    x = batch()
    no_text = {
        k: v
        for k, v in drop_modality(
            {k: tf.constant(v) for k, v in x.items()}, "text"
        ).items()
    }
    out = model(no_text, training=False).numpy()
    # Rebuild the head by hand: image features, zeros for the two text towers.
    img = model.get_layer("image_tower")(x["image"]).numpy()
    text_zeros = np.zeros((5, 32), "float32")
    fused = np.concatenate([img, text_zeros], axis=1)
    h = model.get_layer("fused_embedding")(fused)
    manual = model.get_layer("class_probs")(h).numpy()
    np.testing.assert_allclose(out, manual, atol=1e-5)


def test_late_fusion_with_image_missing_uses_only_text():
    model = small_model(fusion="late")
    x = batch()
    x["image"][:] = 0
    out = model(x, training=False).numpy()
    text_probs = keras.Model(model.inputs, model.get_layer("text_probs").output)(
        x
    ).numpy()
    np.testing.assert_allclose(out, text_probs, atol=1e-6)


def test_image_only_and_text_only_models():
    img_only = build_multimodal_classifier(3, image_size=32, text_tower=None)
    assert list(img_only.input) == ["image"]
    txt_only = build_multimodal_classifier(
        3, image_tower=None, text_fields=("title",), adapt_texts={"title": TITLES}
    )
    assert list(txt_only.input) == ["title"]
    assert txt_only.predict({"title": np.array(TITLES, object)}, verbose=0).shape == (
        5,
        3,
    )


def test_shared_text_tower_has_one_vocabulary():
    model = small_model(share_text_tower=True)
    towers = [layer for layer in model.layers if layer.name.endswith("text_tower")]
    assert [t.name for t in towers] == ["text_tower"]


def test_fused_embedding_model():
    model = small_model()
    emb = fused_embedding_model(model).predict(batch(), verbose=0)
    assert emb.shape == (5, 32)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_tower": "resnet_9000"}, "resnet50v2"),
        ({"text_tower": "word2vec"}, "bow"),
        ({"text_fields": ("title", "caption")}, "valid"),
        ({"fusion": "attention"}, "concat"),
        ({"image_tower": None, "text_tower": None}, "needs an image tower"),
    ],
)
def test_bad_arguments_name_the_valid_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_model(**kwargs)


def test_user_script_from_the_readme(demo_world):
    """The README's script: mmvision.data -> tf.data -> mmvision.models -> fit."""
    from mmvision.data import pipelines, sources, splits

    manifest, report, classes = sources.webvision(demo_world / "webvision")
    manifest = splits.stratified_split(
        manifest, fractions={"train": 0.8, "val": 0.1, "test": 0.1}, seed=0
    )
    fields = ("image", "title", "description", "tags")
    train = pipelines.classification_dataset(
        manifest,
        split="train",
        image_size=32,
        fields=fields,
        shuffle=True,
        seed=0,
        batch_size=32,
    )
    val = pipelines.classification_dataset(
        manifest, split="val", image_size=32, fields=fields, batch_size=32
    )
    tr = manifest[manifest["split"] == "train"]
    model = build_multimodal_classifier(
        len(classes),
        image_tower="small_cnn",
        image_size=32,
        text_fields=("title", "description", "tags"),
        text_tower="bow",
        adapt_texts={
            "title": tr["title"],
            "description": tr["description"],
            "tags": tr["tags"].map(" ".join),
        },
        modality_dropout=0.4,
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert history.history["loss"][1] < history.history["loss"][0]
    assert len(classes) == 48 and report.rows_kept == 480


def test_modality_dropout_per_modality_rates():
    from mmvision.layers import ModalityDropout

    n = 20000
    layer = ModalityDropout([0.2, 0.5], seed=3)
    img, txt = layer(
        [np.ones((n, 2), "float32"), np.ones((n, 3), "float32")], training=True
    )
    img_dropped = np.asarray(img)[:, 0] == 0
    txt_dropped = np.asarray(txt)[:, 0] == 0
    assert not np.any(img_dropped & txt_dropped)  # never both
    # Drawn independently, the "both" case (0.2 * 0.5) keeps one at random:
    # P(img dropped) = 0.2 - 0.1 / 2, P(text dropped) = 0.5 - 0.1 / 2.
    assert abs(img_dropped.mean() - 0.15) < 0.015
    assert abs(txt_dropped.mean() - 0.45) < 0.015
    with pytest.raises(ValueError, match="2 rates for 3"):
        ModalityDropout([0.1, 0.2])([np.ones((2, 1))] * 3)
    again = ModalityDropout.from_config(layer.get_config())
    assert again.rate == [0.2, 0.5]


def test_classifier_uses_the_text_dropout_rate():
    model = small_model(modality_dropout=0.1, text_dropout=0.6)
    assert model.get_layer("modality_dropout").rate == [0.1, 0.6]
