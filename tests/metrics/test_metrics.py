"""mmvision.metrics: BLEU vs nltk, ROUGE-L and CIDEr-D by hand, top-k vs sklearn."""

import math
import random
import warnings

import numpy as np
import pytest

from mmvision.metrics import (
    caption_metrics,
    cider_d,
    confusion_matrix,
    corpus_bleu,
    corpus_rouge_l,
    lcs_length,
    per_class_accuracy,
    rouge_l,
    top_k_accuracy,
)

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")

WEIGHTS = {
    "bleu1": (1.0, 0, 0, 0),
    "bleu2": (0.5, 0.5, 0, 0),
    "bleu3": (1 / 3, 1 / 3, 1 / 3, 0),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}


def nltk_scores(refs, hyps, smoothing=None):
    smooth = None
    if smoothing is not None:
        smooth = getattr(nltk_bleu.SmoothingFunction(), smoothing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            k: float(
                nltk_bleu.corpus_bleu(refs, hyps, weights=w, smoothing_function=smooth)
            )
            for k, w in WEIGHTS.items()
        }


def assert_matches_nltk(refs, hyps, smoothing=None):
    ours = corpus_bleu(refs, hyps, smoothing=smoothing)
    theirs = nltk_scores(refs, hyps, smoothing)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-9, rel=0), key
    return ours


def random_corpus(rng, n_examples, vocab_size=8, max_len=9, allow_empty=False):
    words = [f"w{i}" for i in range(vocab_size)]
    lo = 0 if allow_empty else 1

    def sent():
        return [rng.choice(words) for _ in range(rng.randint(lo, max_len))]

    refs = [
        [sent() or ["w0"] for _ in range(rng.randint(1, 4))] for _ in range(n_examples)
    ]
    hyps = [sent() for _ in range(n_examples)]
    return refs, hyps


# ---------------------------------------------------------------------- BLEU
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("smoothing", [None, "method1", "method2"])
def test_bleu_matches_nltk_random(seed, smoothing):
    rng = random.Random(seed)
    refs, hyps = random_corpus(rng, rng.randint(1, 12), allow_empty=seed % 2 == 1)
    assert_matches_nltk(refs, hyps, smoothing)


def test_bleu_hand_case():
    ref = "the cat sat on the mat".split()
    hyp = "the cat on the mat".split()
    # 1-grams 5/5; 2-grams: the-cat, on-the, the-mat of 4 -> 3/4;
    # 3-grams: on-the-mat of 3 -> 1/3; 4-grams: 0/2. BP = exp(1 - 6/5).
    bp = math.exp(1 - 6 / 5)
    ours = assert_matches_nltk([[ref]], [hyp])
    assert ours["bleu1"] == pytest.approx(bp, abs=1e-12)
    assert ours["bleu2"] == pytest.approx(bp * math.sqrt(3 / 4), abs=1e-12)
    assert ours["bleu3"] == pytest.approx(bp * (1 / 4) ** (1 / 3), abs=1e-12)
    assert ours["bleu4"] == 0.0  # a zero-match order: exactly 0 (nltk ~1e-77)


def test_bleu_perfect_and_clipping():
    ref = "dog runs on the grass".split()
    assert assert_matches_nltk([[ref]], [ref])["bleu4"] == pytest.approx(1.0)
    # "the the the": clipped unigram count 1 of 3; BP uses the closest ref (2).
    ours = assert_matches_nltk([[["the", "dog"]]], [["the", "the", "the"]])
    assert ours["bleu1"] == pytest.approx(1 / 3)


def test_bleu_closest_reference_length_and_short_hypothesis():
    refs = [["a", "b", "c", "d", "e", "f"], ["a", "b"], ["a", "b", "c", "d"]]
    # len 3 is as close to 2 as to 4: the shorter (2) wins -> BP = 1.
    ours = assert_matches_nltk([refs], [["a", "b", "c"]])
    assert ours["bleu1"] == pytest.approx(1.0)
    # Hypothesis shorter than every reference and than the n-gram order.
    ours = assert_matches_nltk([[["a", "b", "c", "d", "e"]]], [["a", "b"]])
    assert ours["bleu1"] == pytest.approx(math.exp(1 - 5 / 2))
    assert ours["bleu3"] == 0.0


def test_bleu_empty_hypotheses():
    refs = [[["dog", "runs"]], [["cat", "sits", "down"]]]
    # All empty: 0 (brevity penalty 0, no unigram match).
    assert assert_matches_nltk(refs, [[], []]) == {f"bleu{n}": 0.0 for n in range(1, 5)}
    # One empty hypothesis still adds 1 to every order's denominator.
    ours = assert_matches_nltk(refs, [["dog", "runs"], []])
    assert ours["bleu1"] == pytest.approx(math.exp(1 - 5 / 2) * 2 / 3)


def test_bleu_no_unigram_match_is_zero_even_with_smoothing():
    for smoothing in (None, "method1", "method2"):
        ours = assert_matches_nltk([[["dog"]]], [["cat"]], smoothing)
        assert max(ours.values()) == 0.0


def test_bleu_options():
    rng = random.Random(3)
    refs, hyps = random_corpus(rng, 10)
    two = corpus_bleu(refs, hyps, max_n=2)
    assert set(two) == {"bleu1", "bleu2"}
    four = corpus_bleu(refs, hyps)
    assert two["bleu2"] == pytest.approx(four["bleu2"])
    w = (0.1, 0.3, 0.5, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nltk_bleu.corpus_bleu(refs, hyps, weights=w)
    assert corpus_bleu(refs, hyps, weights=w)["bleu"] == pytest.approx(
        expected, abs=1e-9
    )
    six = corpus_bleu(refs, hyps, max_n=6)
    assert set(six) == {f"bleu{n}" for n in range(1, 7)}


def test_bleu_validation():
    with pytest.raises(ValueError, match=r"2 reference sets vs 1 hypotheses"):
        corpus_bleu([[["a"]], [["b"]]], [["a"]])
    with pytest.raises(ValueError, match=r"hypotheses\[0\] must be a list of tokens"):
        corpus_bleu([[["dog"]]], ["dog runs"])
    with pytest.raises(ValueError, match=r"references\[0\]\[0\]"):
        corpus_bleu([["dog runs"]], [["dog"]])
    with pytest.raises(ValueError, match=r"references\[1\] is empty"):
        corpus_bleu([[["dog"]], []], [["dog"], ["cat"]])
    with pytest.raises(ValueError, match="empty corpus"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match="method1"):
        corpus_bleu([[["dog"]]], [["dog"]], smoothing="exp")
    with pytest.raises(ValueError, match="max_n"):
        corpus_bleu([[["dog"]]], [["dog"]], max_n=0)


# ------------------------------------------------------------------- ROUGE-L
def test_lcs_length():
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # e.g. B C B A
    assert lcs_length([], ["a"]) == 0
    assert lcs_length(["a", "b"], ["a", "b"]) == 2


def test_rouge_l_hand_cases():
    b2 = 1.2**2
    # ref "the cat sat on the mat" (6), hyp "the cat on the mat" (5):
    # LCS = the cat on the mat = 5 -> P = 5/5, R = 5/6.
    p, r = 1.0, 5 / 6
    expected = (1 + b2) * p * r / (r + b2 * p)  # = (2.44*5/6) / (5/6+1.44) = 305/341
    got = rouge_l(["the cat sat on the mat".split()], "the cat on the mat".split())
    assert got == pytest.approx(expected, abs=1e-12)
    assert got == pytest.approx(305 / 341, abs=1e-12)

    # ref "dog runs fast" (3) vs hyp "runs dog" (2): LCS 1 -> P 1/2, R 1/3.
    p, r = 1 / 2, 1 / 3
    got = rouge_l([["dog", "runs", "fast"]], ["runs", "dog"])
    assert got == pytest.approx((1 + b2) * p * r / (r + b2 * p), abs=1e-12)


def test_rouge_l_takes_max_precision_and_max_recall_separately():
    # ref1 "dog runs" (2): LCS 2 with hyp (4 words) -> P 2/4, R 2/2.
    # ref2 "big dog runs on the grass" (6): LCS 4 -> P 4/4, R 4/6.
    # coco-caption: P = max(1/2, 1) = 1, R = max(1, 2/3) = 1 -> F = 1.
    refs = [["dog", "runs"], "big dog runs on the grass".split()]
    hyp = "dog runs on grass".split()
    assert rouge_l(refs, hyp) == pytest.approx(1.0)
    # ... higher than the best per-reference F (ref2: 2.44*(2/3)/(2/3+1.44)).
    assert rouge_l(refs[1:], hyp) == pytest.approx(2.44 * (2 / 3) / (2 / 3 + 1.44))


def test_rouge_l_edge_cases_and_corpus():
    assert rouge_l([["dog"]], ["cat"]) == 0.0
    assert rouge_l([["dog"]], []) == 0.0
    assert rouge_l([[], ["dog"]], ["dog"]) == pytest.approx(1.0)
    refs = [[["dog", "runs"]], [["dog"]], [["cat"]]]
    hyps = [["dog", "runs"], ["cat"], ["cat"]]
    assert corpus_rouge_l(refs, hyps) == pytest.approx((1 + 0 + 1) / 3)
    with pytest.raises(ValueError, match="3 reference sets vs 2 hypotheses"):
        corpus_rouge_l(refs, hyps[:2])
    with pytest.raises(ValueError, match="at least one reference"):
        rouge_l([], ["dog"])
    with pytest.raises(ValueError, match="hypothesis must be a list of tokens"):
        rouge_l([["dog"]], "dog")


# ------------------------------------------------------------------- CIDEr-D
def cider_numpy(refs_list, hyps, n=4, sigma=6.0):
    """An independent dense-matrix CIDEr-D (coco-caption definition)."""

    def grams(tokens):
        return [
            tuple(tokens[i : i + k])
            for k in range(1, n + 1)
            for i in range(len(tokens) - k + 1)
        ]

    sents = [h for h in hyps] + [r for refs in refs_list for r in refs]
    vocab = sorted({g for s in sents for g in grams(s)})
    col = {g: j for j, g in enumerate(vocab)}
    order = np.array([len(g) for g in vocab])

    def tf(tokens):
        v = np.zeros(len(vocab))
        for g in grams(tokens):
            v[col[g]] += 1
        return v

    present = np.array([[tf(r) > 0 for r in refs] for refs in refs_list], dtype=object)
    df = np.zeros(len(vocab))
    for refs in present:
        df += np.any(np.stack(list(refs)), axis=0)
    idf = np.log(len(refs_list)) - np.log(np.maximum(df, 1.0))

    def n_bigrams(tokens):
        return max(len(tokens) - 1, 0)

    scores = []
    for refs, hyp in zip(refs_list, hyps):
        h = tf(hyp) * idf
        per_order = np.zeros(n)
        for ref in refs:
            r = tf(ref) * idf
            pen = np.exp(-((n_bigrams(hyp) - n_bigrams(ref)) ** 2) / (2 * sigma**2))
            for k in range(1, n + 1):
                m = order == k
                num = np.sum(np.minimum(h[m], r[m]) * r[m])
                den = np.linalg.norm(h[m]) * np.linalg.norm(r[m])
                per_order[k - 1] += (num / den if den > 0 else num) * pen
        scores.append(per_order.mean() / len(refs) * 10)
    return np.array(scores)


def test_cider_hand_two_images():
    ln2 = math.log(2)
    # df: red 2 (both images), circle 1, square 1, "red circle" 1, "red square" 1.
    # idf = ln 2 - ln df: red -> 0, the rest -> ln 2.
    refs = [[["red", "circle"]], [["red", "square"]]]
    # Image 1, hyp = its reference: unigram cos = ln2^2 / (ln2 * ln2) = 1,
    # bigram cos = 1, orders 3, 4 have no n-gram -> 0: (1 + 1 + 0 + 0) / 4 * 10 = 5.
    # Image 2, hyp "red circle" vs ref "red square": the only shared n-gram is
    # "red" with idf 0 -> every order 0 -> 0.
    mean, per = cider_d(refs, [["red", "circle"], ["red", "circle"]])
    np.testing.assert_allclose(per, [5.0, 0.0], atol=1e-12)
    assert mean == pytest.approx(2.5)

    # Length penalty and clipping: refs "red circle" / "blue square",
    # hyp 1 = "red circle red circle" (3 bigrams vs 1: delta 2).
    # 1-grams: hyp (2ln2, 2ln2), ref (ln2, ln2): sum min*ref = 2 ln2^2,
    #   norms sqrt(8) ln2 * sqrt(2) ln2 = 4 ln2^2 -> 0.5.
    # 2-grams: hyp {red circle: 2ln2, circle red: ln2}, ref {red circle: ln2}:
    #   min(2ln2, ln2) * ln2 / (sqrt(5) ln2 * ln2) = 1/sqrt(5).
    # score = (0.5 + 1/sqrt5) / 4 * 10 * exp(-2^2 / (2 * 6^2)).
    refs = [[["red", "circle"]], [["blue", "square"]]]
    hyps = [["red", "circle", "red", "circle"], ["blue", "circle"]]
    mean, per = cider_d(refs, hyps)
    expected_1 = (0.5 + 1 / math.sqrt(5)) / 4 * 10 * math.exp(-4 / 72)
    # hyp 2 "blue circle": 1-grams blue ln2 (shared), circle ln2 (not in ref):
    #   ln2^2 / (sqrt2 ln2 * sqrt2 ln2) = 0.5; no shared bigram -> 0.5/4*10.
    expected_2 = 0.5 / 4 * 10
    np.testing.assert_allclose(per, [expected_1, expected_2], atol=1e-12)
    # With n=1 coco-caption's "length" (a bigram count) is 0 for every caption,
    # so there is no length penalty: hyp 1 scores exactly 0.5 * 10.
    np.testing.assert_allclose(cider_d(refs, hyps, n=1)[1], [5.0, 5.0], atol=1e-12)
    assert ln2 > 0  # idf of a one-image n-gram in a two-image corpus


@pytest.mark.parametrize("seed", range(5))
def test_cider_matches_independent_numpy(seed):
    rng = random.Random(seed)
    refs, hyps = random_corpus(rng, rng.randint(2, 8), vocab_size=6, allow_empty=True)
    mean, per = cider_d(refs, hyps)
    expected = cider_numpy(refs, hyps)
    np.testing.assert_allclose(per, expected, atol=1e-10)
    assert mean == pytest.approx(expected.mean(), abs=1e-10)


def test_cider_properties():
    refs = [
        [["dog", "runs", "on", "grass"], ["dog", "runs", "on", "grass"]],
        [["red", "circle", "on", "white"], ["big", "red", "circle"]],
        [["blue", "star", "in", "sky"], ["blue", "star"]],
    ]
    full = cider_d(refs, [["dog", "runs", "on", "grass"], ["red"], ["sky"]])[1]
    partial = cider_d(refs, [["dog", "runs"], ["red"], ["sky"]])[1]
    none = cider_d(refs, [["cat", "sleeps"], ["red"], ["sky"]])[1]
    assert full[0] > partial[0] > none[0] == 0.0
    # Permuting images permutes the scores; permuting references changes nothing.
    hyps = [["dog", "runs"], ["red", "circle"], ["blue", "star", "in", "sky"]]
    base = cider_d(refs, hyps)[1]
    perm = [2, 0, 1]
    np.testing.assert_allclose(
        cider_d([refs[i] for i in perm], [hyps[i] for i in perm])[1], base[perm]
    )
    np.testing.assert_allclose(cider_d([r[::-1] for r in refs], hyps)[1], base)
    # Duplicating the corpus leaves idf (log I - log df) and every score unchanged.
    np.testing.assert_allclose(cider_d(refs * 2, hyps * 2)[1], np.tile(base, 2))
    # Renaming tokens consistently changes nothing.
    rename = lambda s: [w.upper() + "x" for w in s]
    renamed = cider_d(
        [[rename(r) for r in rs] for rs in refs], [rename(h) for h in hyps]
    )
    np.testing.assert_allclose(renamed[1], base)
    # One image: every idf is 0 -> 0, like coco-caption.
    assert cider_d(refs[:1], hyps[:1])[0] == 0.0


def test_cider_validation():
    with pytest.raises(ValueError, match="2 reference sets vs 1 hypotheses"):
        cider_d([[["a"]], [["b"]]], [["a"]])
    with pytest.raises(ValueError, match="sigma"):
        cider_d([[["dog"]]], [["dog"]], sigma=0)


# -------------------------------------------------------------- caption dict
def test_caption_metrics_tokenises_strings():
    refs = [["A red circle.", "The red circle!"], ["A blue star", "blue star in sky"]]
    hyps = ["a red circle", "A big blue star."]
    m = caption_metrics(refs, hyps)
    assert set(m) == {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "cider_d"}
    tok_refs = [
        [["red", "circle"], ["the", "red", "circle"]],
        [["blue", "star"], ["blue", "star", "in", "sky"]],
    ]
    tok_hyps = [["red", "circle"], ["big", "blue", "star"]]
    assert m == caption_metrics(tok_refs, tok_hyps)
    assert m["bleu2"] == pytest.approx(corpus_bleu(tok_refs, tok_hyps)["bleu2"])
    assert m["cider_d"] == pytest.approx(cider_d(tok_refs, tok_hyps)[0])
    assert all(isinstance(v, float) for v in m.values())


# ------------------------------------------------------------ classification
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_matches_sklearn(seed, k):
    from sklearn.metrics import top_k_accuracy_score

    rng = np.random.default_rng(seed)
    n, c = 50, 7
    y = rng.integers(0, c, size=n)
    probs = rng.random((n, c))
    if seed % 2:  # many ties: the tie-break must agree too
        probs = rng.integers(0, 3, size=(n, c)).astype(float)
    expected = top_k_accuracy_score(y, probs, k=k, labels=np.arange(c))
    assert top_k_accuracy(y, probs, k) == pytest.approx(expected, abs=1e-12)


def test_top_k_hand_and_validation():
    probs = [[0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.1, 0.1, 0.8]]
    assert top_k_accuracy([0, 1, 2], probs, k=1) == pytest.approx(2 / 3)
    assert top_k_accuracy([0, 1, 2], probs, k=2) == pytest.approx(2 / 3)
    assert top_k_accuracy([0, 1, 2], probs, k=3) == 1.0
    assert top_k_accuracy([0, 1, 2], probs, k=10) == 1.0
    with pytest.raises(ValueError, match="3 vs 2"):
        top_k_accuracy([0, 1, 2], probs[:2], k=1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k_accuracy([0], [[1.0]], k=0)
    with pytest.raises(ValueError, match=r"label 3 outside \[0, 3\)"):
        top_k_accuracy([3, 0, 0], probs, k=1)
    with pytest.raises(ValueError, match=r"\[N, n_classes\]"):
        top_k_accuracy([0], [1.0], k=1)


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn(normalize):
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=40)  # class 4 of 5 never occurs
    y_pred = rng.integers(0, 5, size=40)
    ours = confusion_matrix(y_true, y_pred, n_classes=5, normalize=normalize)
    theirs = sk_confusion(y_true, y_pred, labels=np.arange(5), normalize=normalize)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert ours.shape == (5, 5)
    assert confusion_matrix(y_true, y_true).shape == (4, 4)


def test_per_class_accuracy():
    acc = per_class_accuracy([0, 0, 1, 1, 1, 3], [0, 1, 1, 1, 0, 3], n_classes=4)
    np.testing.assert_allclose(acc[[0, 1, 3]], [0.5, 2 / 3, 1.0])
    assert np.isnan(acc[2])
    with pytest.raises(ValueError, match="y_true and y_pred differ in length: 2 vs 1"):
        per_class_accuracy([0, 1], [0], n_classes=2)
    with pytest.raises(ValueError, match=r"y_pred holds label 5"):
        per_class_accuracy([0, 1], [0, 5], n_classes=2)
    with pytest.raises(ValueError, match="integer labels"):
        per_class_accuracy([0.5, 1], [0, 1], n_classes=2)
