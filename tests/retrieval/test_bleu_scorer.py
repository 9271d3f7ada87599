"""BleuScorer against nltk's sentence_bleu and hand-computed scores."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from mmvision.data.text import tokenize
from mmvision.retrieval.bleu_scorer import BleuScorer

WORDS = ["dog", "cat", "red", "ball", "runs", "on", "the", "grass", "big", "water"]


def random_captions(n: int, seed: int, max_len: int = 8) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(WORDS, size=int(rng.integers(1, max_len + 1))))
        for _ in range(n)
    ]


def nltk_scores(query, database, max_n=4, epsilon=0.1):
    hyp = tokenize(query)
    smooth = SmoothingFunction(epsilon=epsilon).method1
    weights = (1.0 / max_n,) * max_n
    return np.array(
        [
            sentence_bleu([tokenize(ref)], hyp, weights, smoothing_function=smooth)
            for ref in database
        ],
        np.float64,
    )


EDGE_DATABASE = [
    "the dog runs on the grass",  # identical to a query below
    "cat water",  # no overlap with "the dog runs on the grass"
    "red ball on the grass",
    "dog runs",
    "the big red ball runs on the water and the big dog",  # much longer
    "",  # no tokens at all
    "A Dog!",  # tokenises to ["dog"]
    "dog dog",
]

EDGE_QUERIES = [
    "the dog runs on the grass",
    "dog dog dog dog",  # repeated words: clipping
    "red ball",  # length 2
    "red ball on",  # length 3
    "dog",  # length 1
    "the big red ball runs on the water and the big dog today again",
    "cat",
]


@pytest.mark.parametrize("query", EDGE_QUERIES)
def test_edge_cases_match_nltk(query):
    scores = BleuScorer(EDGE_DATABASE).score(query)
    assert scores.dtype == np.float64 and scores.shape == (len(EDGE_DATABASE),)
    np.testing.assert_allclose(scores, nltk_scores(query, EDGE_DATABASE), atol=1e-9)


def test_random_captions_match_nltk():
    database = random_captions(50, seed=0)
    queries = random_captions(30, seed=1) + database[:5]
    scorer = BleuScorer(database)
    for query in queries:
        expected = nltk_scores(query, database)
        np.testing.assert_allclose(scorer.score(query), expected, atol=1e-9)
    assert np.all((scorer.score(queries[0]) >= 0) & (scorer.score(queries[0]) <= 1))


@pytest.mark.parametrize(("max_n", "smoothing"), [(2, 0.1), (3, 0.5), (2, 0.0)])
def test_other_orders_and_smoothing_match_nltk(max_n, smoothing):
    database = random_captions(40, seed=2) + EDGE_DATABASE
    scorer = BleuScorer(database, max_n=max_n, smoothing=smoothing)
    for query in random_captions(10, seed=3) + EDGE_QUERIES:
        expected = nltk_scores(query, database, max_n=max_n, epsilon=smoothing)
        np.testing.assert_allclose(scorer.score(query), expected, atol=1e-9)


def test_hand_computed_scores():
    scorer = BleuScorer(["the dog runs on the grass", "cat water", "dog runs"])
    identical, disjoint, _ = scorer.score("the dog runs on the grass")
    assert identical == pytest.approx(1.0, abs=1e-12)
    assert disjoint == 0.0
    # Clipping: "dog" counts once; p = 1/4, 0.1/3, 0.1/2, 0.1/1; c=4 > r=2.
    clipped = scorer.score("dog dog dog dog")[2]
    expected = math.exp(
        0.25 * (math.log(1 / 4) + math.log(0.1 / 3) + math.log(0.05) + math.log(0.1))
    )
    assert clipped == pytest.approx(expected, abs=1e-12)
    # Short query: p = 1, 1, 0.1, 0.1; brevity penalty exp(1 - 4/2).
    short = BleuScorer(["red ball on grass"]).score("red ball")[0]
    assert short == pytest.approx(math.exp(-1.0) * math.sqrt(0.1), abs=1e-12)


def test_add_equals_scoring_the_concatenated_database():
    database = random_captions(60, seed=4) + EDGE_DATABASE
    queries = random_captions(8, seed=5) + EDGE_QUERIES
    incremental = BleuScorer(database[:20])
    # Row blocks after each add: [20, 5], [30], [30, 10], [30, 10, 1], [68].
    for start, stop in [(20, 25), (25, 30), (30, 40), (40, 41), (41, len(database))]:
        incremental.add(database[start:stop])
        incremental.add([])
        whole = BleuScorer(database[:stop])
        assert len(incremental) == len(whole) == stop
        for query in queries:
            np.testing.assert_allclose(
                incremental.score(query), whole.score(query), rtol=0, atol=1e-12
            )
    for query in queries:
        np.testing.assert_allclose(
            incremental.score(query), nltk_scores(query, database), atol=1e-9
        )


def test_score_many_rows_equal_score():
    database = random_captions(30, seed=6)
    queries = random_captions(6, seed=7)
    scorer = BleuScorer(database)
    many = scorer.score_many(queries)
    assert many.shape == (6, 30)
    for row, query in zip(many, queries):
        np.testing.assert_array_equal(row, scorer.score(query))
    assert scorer.score_many([]).shape == (0, 30)


def test_empty_query_and_empty_database():
    scorer = BleuScorer(["dog runs"])
    for query in ["", "   ", "a 2 !"]:  # no tokens after cleaning
        with pytest.raises(ValueError, match="empty query caption"):
            scorer.score(query)
    with pytest.raises(ValueError, match="empty query caption"):
        scorer.score_many(["dog", ""])
    empty = BleuScorer()
    assert len(empty) == 0
    assert empty.score("dog runs").shape == (0,)
    assert empty.score_many(["dog", "cat"]).shape == (2, 0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_n"):
        BleuScorer(max_n=0)
    with pytest.raises(ValueError, match="smoothing"):
        BleuScorer(smoothing=-0.1)
    with pytest.raises(TypeError, match="not a string"):
        BleuScorer("dog runs")
    with pytest.raises(TypeError, match="not a string"):
        BleuScorer(["dog"]).score_many("dog")


def test_large_database_is_fast_and_correct():
    rng = np.random.default_rng(8)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, 5)) for _ in range(3000)]
    # A dense [N, n-gram vocabulary] matrix here would need tens of gigabytes.
    ids = rng.integers(0, len(vocab), size=(30_000, 10))
    database = [" ".join(vocab[i] for i in row) for row in ids.tolist()]
    scorer = BleuScorer(database)
    query = database[123]
    start = time.perf_counter()
    scores = scorer.score(query)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    assert scores[123] == pytest.approx(1.0)
    rows = [0, 123, 4567, 29_999]
    np.testing.assert_allclose(
        scores[rows], nltk_scores(query, [database[i] for i in rows]), atol=1e-9
    )
