"""Greedy and beam search (mmvision.decoding) on hand-built step functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from mmvision.data.vocabulary import Vocabulary
from mmvision.decoding import beam_search, decode, greedy_search, ids_to_text

PAD, UNK, START, END, A, B = 0, 1, 2, 3, 4, 5


def table_step(table: np.ndarray, calls: list | None = None):
    """A first-order Markov "model": next-token probabilities given the last token."""
    log_t = tf.constant(np.log(np.maximum(table, 1e-12)), tf.float32)

    def step(tokens, state):
        if calls is not None:
            calls.append(1)
        return tf.gather(log_t, tokens), state

    return step


def biased_step(table: np.ndarray):
    """Markov table plus a per-row bias held in the state: each "image" differs."""
    logits = tf.constant(np.log(table), tf.float32)

    def step(tokens, state):
        return tf.nn.log_softmax(tf.gather(logits, tokens) + state["bias"]), state

    return step


def dummy_state(n: int):
    return tf.zeros([n, 1])


def brute_force_best(table: np.ndarray, max_len: int, alpha: float):
    """Best normalised score over every sequence (ended, or truncated at max_len)."""
    V = table.shape[0]
    best, best_seq = -np.inf, None
    for length in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=length):
            if END in seq[:-1] or PAD in seq:
                continue
            if seq[-1] != END and length < max_len:
                continue
            lp, prev = 0.0, START
            for tok in seq:
                lp += np.log(max(table[prev, tok], 1e-12))
                prev = tok
            score = lp / length**alpha
            if score > best + 1e-9:
                best, best_seq = score, list(seq)
    return best_seq, best


def _pad(seq, max_len):
    return list(seq) + [0] * (max_len - len(seq))


def _table(rows: dict[int, dict[int, float]], V: int = 6) -> np.ndarray:
    t = np.full((V, V), 1e-9)
    for prev, nxt in rows.items():
        for tok, p in nxt.items():
            t[prev, tok] = p
    return t / t.sum(1, keepdims=True)


# A table where length normalisation changes the answer: raw log probability
# prefers stopping at once ("" caption), the per-token mean prefers "b".
NORM_TABLE = _table(
    {START: {END: 0.4, B: 0.6}, B: {END: 0.5, B: 0.5}, A: {END: 1.0}, END: {END: 1.0}}
)
# Greedy takes "a" (0.5) and then wanders; beam finds "b endseq".
GREEDY_TRAP = _table(
    {
        START: {A: 0.5, B: 0.45, END: 0.05},
        A: {A: 0.34, B: 0.33, END: 0.33},
        B: {END: 0.9, A: 0.05, B: 0.05},
        END: {END: 1.0},
    }
)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_finds_known_best_with_length_normalisation(alpha):
    max_len = 4
    expected, expected_score = brute_force_best(NORM_TABLE, max_len, alpha)
    ids, score = beam_search(
        table_step(NORM_TABLE), dummy_state(1), 1, START, END, max_len,
        beam_width=3, length_penalty=alpha,
    )  # fmt: skip
    assert ids.numpy()[0].tolist() == _pad(expected, max_len)
    assert score.numpy()[0] == pytest.approx(expected_score, abs=1e-5)
    # The two penalties disagree on this table, so normalisation is exercised.
    assert expected == ([END] if alpha == 0.0 else [B, END])


def test_beam_beats_greedy_on_a_trap():
    max_len = 5
    g_ids, _ = greedy_search(
        table_step(GREEDY_TRAP), dummy_state(1), 1, START, END, max_len
    )
    assert g_ids.numpy()[0].tolist() == [A, A, A, A, A]  # truncated, never ends
    b_ids, b_score = beam_search(
        table_step(GREEDY_TRAP), dummy_state(1), 1, START, END, max_len,
        beam_width=2, length_penalty=1.0,
    )  # fmt: skip
    expected, score = brute_force_best(GREEDY_TRAP, max_len, 1.0)
    assert expected == [B, END]
    assert b_ids.numpy()[0].tolist() == _pad(expected, max_len)
    assert b_score.numpy()[0] == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_beam_width_one_equals_greedy(alpha):
    rng = np.random.default_rng(0)
    V, n, max_len = 9, 16, 7
    table = rng.dirichlet(np.full(V, 0.5), size=V)
    state = {"bias": tf.constant(rng.normal(0, 2.0, (n, V)), tf.float32)}
    step = biased_step(table)
    g_ids, g_lp = greedy_search(step, state, n, START, END, max_len)
    b_ids, b_score = beam_search(
        step, state, n, START, END, max_len, beam_width=1, length_penalty=alpha
    )
    np.testing.assert_array_equal(b_ids.numpy(), g_ids.numpy())
    lengths = np.maximum((g_ids.numpy() > 0).sum(1), 1)
    np.testing.assert_allclose(
        b_score.numpy(), g_lp.numpy() / lengths**alpha, rtol=1e-5
    )


def test_greedy_log_prob_is_sum_of_chosen_tokens():
    table = GREEDY_TRAP
    ids, lp = greedy_search(table_step(table), dummy_state(1), 1, START, END, 3)
    seq = ids.numpy()[0].tolist()
    expected = np.log(table[START, seq[0]]) + sum(
        np.log(table[a, b]) for a, b in zip(seq, seq[1:])
    )
    assert lp.numpy()[0] == pytest.approx(expected, rel=1e-5)


def test_decoding_stops_at_endseq():
    early = _table({START: {END: 0.9, A: 0.1}, A: {A: 1.0}, END: {END: 1.0}})
    calls: list = []
    ids, _ = greedy_search(table_step(early, calls), dummy_state(2), 2, START, END, 10)
    assert ids.numpy().tolist() == [[END] + [0] * 9] * 2
    assert len(calls) == 1  # eager while_loop: the body ran once, then stopped
    # Beam search stops once it holds k finished hypotheses that no alive one
    # can beat.
    quick = _table({START: {END: 0.9, A: 0.1}, A: {END: 1.0}, END: {END: 1.0}})
    calls.clear()
    ids, _ = beam_search(
        table_step(quick, calls), dummy_state(2), 2, START, END, 10, beam_width=2
    )
    assert ids.numpy().tolist() == [[END] + [0] * 9] * 2
    assert len(calls) == 2


def test_end_token_spelling_matters():
    """A decoder compared against the wrong end id never stops early."""
    early = _table({START: {END: 0.9, A: 0.1}, A: {A: 1.0}, END: {END: 1.0}})
    ids, _ = greedy_search(table_step(early), dummy_state(1), 1, START, 99, 4)
    assert ids.numpy()[0].tolist() == [END, END, END, END]


@pytest.mark.parametrize("k", [1, 3])
def test_batched_equals_per_image_inside_tf_function(k):
    rng = np.random.default_rng(1)
    V, n, max_len = 10, 6, 8
    table = rng.dirichlet(np.full(V, 0.3), size=V)
    bias = rng.normal(0, 3.0, (n, V)).astype("float32")
    step = biased_step(table)

    @tf.function
    def run(b):
        return beam_search(
            step, {"bias": b}, tf.shape(b)[0], START, END, max_len,
            beam_width=k, length_penalty=0.7,
        )  # fmt: skip

    ids, scores = run(tf.constant(bias))
    for i in range(n):
        one_ids, one_score = run(tf.constant(bias[i : i + 1]))
        assert one_ids.numpy()[0].tolist() == ids.numpy()[i].tolist()
        assert one_score.numpy()[0] == pytest.approx(scores.numpy()[i], abs=1e-5)


def test_return_all_is_sorted_and_best_first():
    step = table_step(GREEDY_TRAP)
    all_ids, all_scores = beam_search(
        step, dummy_state(1), 1, START, END, 5, beam_width=3, return_all=True
    )
    s = all_scores.numpy()[0]
    assert all_ids.shape == (1, 3, 5)
    assert list(s) == sorted(s, reverse=True)
    best_ids, best = beam_search(step, dummy_state(1), 1, START, END, 5, beam_width=3)
    assert best_ids.numpy()[0].tolist() == all_ids.numpy()[0, 0].tolist()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_decode_dispatches_on_beam_width(k):
    """``decode``: greedy for width 1 (its summed log prob), beam search else."""
    step, state = table_step(GREEDY_TRAP), dummy_state(1)
    ids, score = decode(step, state, 1, START, END, 5, beam_width=k, length_penalty=1.0)
    if k == 1:
        want_ids, want = greedy_search(step, state, 1, START, END, 5)
    else:
        want_ids, want = beam_search(
            step, state, 1, START, END, 5, beam_width=k, length_penalty=1.0
        )
    np.testing.assert_array_equal(ids.numpy(), want_ids.numpy())
    np.testing.assert_allclose(score.numpy(), want.numpy(), rtol=1e-6)
    assert ids.numpy()[0].tolist() == ([A] * 5 if k == 1 else [B, END, 0, 0, 0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(
            table_step(GREEDY_TRAP), dummy_state(1), 1, START, END, 3, beam_width=0
        )
    with pytest.raises(ValueError, match="max_len"):
        greedy_search(table_step(GREEDY_TRAP), dummy_state(1), 1, START, END, 0)


def test_ids_to_text_matches_vocabulary_decode():
    vocab = Vocabulary.build(["a red circle on the left", "blue star"])
    rows = [
        vocab.encode("red circle left", max_len=8)[1:] + [0],
        vocab.encode("blue star", add_special=False) + [vocab.end_id, 4, 5, 0, 0, 0],
        [vocab.end_id] + [0] * 7,
        [vocab.unk_id, vocab.index("star")] + [0] * 6,
    ]
    got = ids_to_text(tf.constant(rows), vocab.tokens, vocab.end_id).numpy()
    assert [g.decode() for g in got] == [vocab.decode(r) for r in rows]
