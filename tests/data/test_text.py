"""Tests for mmvision.data.text: cleaning, Vocabulary, vocab.txt, TextVectorization."""

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmvision.data import text
from mmvision.data.text import clean_caption, tokenize, wrap
from mmvision.data.vocabulary import Vocabulary

CAPTIONS = [
    "A child in a pink dress is climbing up a set of stairs in an entry way .",
    "A girl going into a wooden building .",
    "A black dog and a spotted dog are fighting",
    "Two dogs of different breeds looking at each other on the road .",
    "A little girl covered in paint sits in front of a painted rainbow.",
    "The dog's 2 red balls, on the grass!",
]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("A child in a pink dress .", "child in pink dress"),
        ("The dog's ball", "the dogs ball"),  # apostrophe removed inside the word
        ("Two dogs : 2 dogs , 3rd dog", "two dogs dogs dog"),  # numbers dropped
        ("a T-shirt (red) & mp3", "tshirt red"),  # one-letter + digit words go
        ("  Hello\tWORLD\n again  ", "hello world again"),
        ("café “quoted” — word", "café quoted word"),  # Unicode punctuation
        ("", ""),
        ("a . , 1 s", ""),
    ],
)
def test_clean_caption(raw, expected):
    assert clean_caption(raw) == expected


@pytest.mark.parametrize("missing", [None, float("nan"), np.float32("nan"), pd.NA])
def test_clean_caption_missing(missing):
    assert clean_caption(missing) == ""
    assert tokenize(missing) == []


def test_clean_caption_bytes_and_idempotent():
    assert clean_caption("Ünïcode BYTES".encode()) == "ünïcode bytes"
    for c in CAPTIONS:
        once = clean_caption(c)
        assert clean_caption(once) == once


def test_matches_tutorial_cleaning():
    # The Flickr8k Keras tutorial's steps, written out independently.
    import string

    table = str.maketrans("", "", string.punctuation)

    def tutorial(desc):
        desc = [w.lower().translate(table) for w in desc.split()]
        return " ".join(w for w in desc if len(w) > 1 and w.isalpha())

    for c in CAPTIONS:
        assert clean_caption(c) == tutorial(c)


def test_tokenize_and_wrap():
    assert tokenize("A dog runs.") == ["dog", "runs"]
    assert wrap("A dog runs.") == "startseq dog runs endseq"
    assert wrap("") == "startseq endseq"


def test_build_order_and_reserved_ids():
    vocab = Vocabulary.build(["b a c c", "bb cc cc dd", "dd ee"])
    # counts: cc 3, dd 2, bb 1, ee 1 (one-letter words dropped)
    assert vocab.tokens == ["", "[UNK]", "startseq", "endseq", "cc", "dd", "bb", "ee"]
    assert (vocab.pad_id, vocab.unk_id, vocab.start_id, vocab.end_id) == (0, 1, 2, 3)
    assert vocab.index("cc") == 4 and vocab.index("zz") == text.UNK_ID
    assert "dd" in vocab and "zz" not in vocab
    assert len(vocab) == 8
    # Deterministic: the input order does not matter.
    again = Vocabulary.build(["dd ee", "bb cc cc dd", "b a c c"])
    assert again == vocab and again.fingerprint() == vocab.fingerprint()


def test_build_min_count_max_size_nested_and_special_words():
    caps = [["dog runs", "dog sits"], ("dog runs",), "startseq cat endseq"]
    vocab = Vocabulary.build(caps, min_count=2)
    assert vocab.words == ["dog", "runs"]
    assert Vocabulary.build(caps, max_size=5).words == ["dog"]
    full = Vocabulary.build(caps)
    assert full.words == ["dog", "runs", "cat", "sits"]
    assert full.tokens.count("startseq") == 1
    series = pd.Series([["Dog runs."], ["A dog sits."]])
    assert Vocabulary.build(series).words == ["dog", "runs", "sits"]


def test_build_errors_name_the_source():
    with pytest.raises(ValueError, match=r"captions\.txt: no captions"):
        Vocabulary.build([], source="captions.txt")
    with pytest.raises(ValueError, match=r"tok\.txt.*min_count=3.*'dog' x2"):
        Vocabulary.build(["dog cat", "dog"], min_count=3, source="tok.txt")
    with pytest.raises(ValueError, match=r"f\.csv: 2 captions but no word"):
        Vocabulary.build(["a 1 .", None], source="f.csv")
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build(["dog"], min_count=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.build(["dog"], max_size=4)
    with pytest.raises(ValueError, match="one string"):
        Vocabulary.build("dog runs")


def test_constructor_validates():
    with pytest.raises(ValueError, match="reserved"):
        Vocabulary(["dog", "cat"])
    with pytest.raises(ValueError, match="twice"):
        Vocabulary([*text.RESERVED_TOKENS, "dog", "dog"])
    with pytest.raises(ValueError, match="whitespace"):
        Vocabulary([*text.RESERVED_TOKENS, "two words"])


def test_encode_decode():
    vocab = Vocabulary.build(["dog runs on grass", "dog sits"])
    dog, runs = vocab.index("dog"), vocab.index("runs")
    assert vocab.encode("The Dog runs!") == [2, 1, dog, runs, 3]
    assert vocab.encode("dog runs", add_special=False) == [dog, runs]
    assert vocab.encode("dog runs", max_len=6) == [2, dog, runs, 3, 0, 0]
    # Truncation cuts from the end (TextVectorization does the same).
    assert vocab.encode("dog runs on grass", max_len=3) == [2, dog, runs]
    with pytest.raises(ValueError, match="max_len"):
        vocab.encode("dog", max_len=0)
    ids = vocab.encode("dog runs on grass", max_len=10)
    assert vocab.decode(ids) == "dog runs on grass"
    assert vocab.decode(ids, strip_special=False) == "startseq dog runs on grass endseq"
    # Stops at the first endseq; padding skipped; unknown id shows [UNK].
    assert vocab.decode([2, dog, 0, 1, 3, runs, runs]) == "dog [UNK]"
    assert vocab.decode(np.array([[2, dog, 3]])[0]) == "dog"
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([2, len(vocab)])
    with pytest.raises(ValueError, match="out of range"):
        vocab.token(-1)
    assert vocab.token(dog) == "dog"


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build(CAPTIONS, min_count=1)
    path = vocab.save(tmp_path / "run" / "vocab.txt")
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[:4] == ["[PAD]", "[UNK]", "startseq", "endseq"]
    assert lines[-1] == "" and "" not in lines[:-1]  # no blank line inside
    assert os.listdir(path.parent) == ["vocab.txt"]  # no temp file left
    loaded = Vocabulary.load(path)
    assert loaded == vocab
    assert loaded.tokens[0] == ""
    assert loaded.fingerprint() == vocab.fingerprint()
    assert loaded.encode(CAPTIONS[0]) == vocab.encode(CAPTIONS[0])
    loaded.check_fingerprint(vocab.fingerprint())
    # Windows line endings and a BOM are tolerated.
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"\xef\xbb\xbf" + vocab.to_text().replace("\n", "\r\n").encode())
    assert Vocabulary.load(crlf) == vocab


def test_fingerprint_detects_a_different_vocabulary():
    a = Vocabulary.build(["dog runs", "dog sits"])
    b = Vocabulary.build(["dog runs", "dog sits", "sits"])  # same words, other ids
    assert sorted(a.words) == sorted(b.words)
    assert a.fingerprint() != b.fingerprint()
    assert len(a.fingerprint()) == 16
    with pytest.raises(ValueError, match="does not match the caption model"):
        a.check_fingerprint(b.fingerprint(), what="the caption model")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty vocabulary file"),
        ("\n\n", "empty vocabulary file"),
        (
            "[PAD]\n[UNK]\nstartseq\nendseq\ndog\ncat\ndog\n",
            r":7: duplicate token 'dog'",
        ),
        ("[UNK]\nstartseq\nendseq\ndog\n", "missing reserved tokens"),
        ("\n[UNK]\nstartseq\nendseq\ndog\n", ":1: blank line"),
        ("[PAD]\n[UNK]\nstartseq\nendseq\n\ndog\n", ":5: blank line"),
        ("[PAD]\n[UNK]\nendseq\nstartseq\ndog\n", "missing reserved tokens"),
    ],
)
def test_load_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad_vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        Vocabulary.load(path)
    assert "bad_vocab.txt" in str(err.value)


def test_load_missing_and_binary_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        Vocabulary.load(tmp_path / "nope.txt")
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"[PAD]\n[UNK]\nstartseq\nendseq\ncaf\xe9\n")
    with pytest.raises(ValueError, match="latin1.txt: not UTF-8"):
        Vocabulary.load(path)


def test_no_tensorflow_import():
    code = (
        "import sys, mmvision.data.vocabulary, mmvision.metrics;"
        "v = mmvision.data.vocabulary.Vocabulary.build(['dog runs']);"
        "print(any(m in sys.modules for m in ('tensorflow', 'keras')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- Keras layer
@pytest.fixture(scope="module")
def tf_vocab():
    return Vocabulary.build(CAPTIONS[:-1], min_count=1, max_size=20)


def test_text_vectorization_matches_encode(tf_vocab):
    import tensorflow as tf

    layer = tf_vocab.text_vectorization(max_len=12)
    assert layer.get_vocabulary() == tf_vocab.tokens
    captions = [*CAPTIONS, "", "zebra unknown words"]
    expected = np.array([tf_vocab.encode(c, max_len=12) for c in captions])
    inputs = tf.constant([wrap(c) for c in captions])
    np.testing.assert_array_equal(layer(inputs).numpy(), expected)
    # Without special tokens, on cleaned text.
    plain = tf_vocab.text_vectorization(max_len=12)(
        tf.constant([clean_caption(c) for c in captions])
    ).numpy()
    np.testing.assert_array_equal(
        plain, [tf_vocab.encode(c, max_len=12, add_special=False) for c in captions]
    )
    # Inside Dataset.map (graph mode).
    ds = tf.data.Dataset.from_tensor_slices(inputs).batch(3).map(layer)
    np.testing.assert_array_equal(
        np.concatenate(list(ds.as_numpy_iterator())), expected
    )


def test_text_vectorization_in_exported_savedmodel(tf_vocab, tmp_path):
    import keras
    import tensorflow as tf

    inp = keras.Input(shape=(), dtype="string", name="caption")
    model = keras.Model(inp, tf_vocab.text_vectorization(max_len=8)(inp))
    export_dir = str(tmp_path / "export")
    model.export(export_dir, format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(export_dir)
    captions = [wrap(c) for c in CAPTIONS[:3]]
    out = loaded.serve(tf.constant(captions)).numpy()
    np.testing.assert_array_equal(
        out, [tf_vocab.encode(c, max_len=8) for c in CAPTIONS[:3]]
    )


def test_nan_in_dataframe_column():
    df = pd.DataFrame({"caption": ["A dog.", math.nan, None, "dogs run"]})
    vocab = Vocabulary.build(df["caption"], source="captions.csv")
    assert vocab.words == ["dog", "dogs", "run"]
