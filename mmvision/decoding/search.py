"""Greedy and beam search over a step function, batched, in TensorFlow ops.

Both searches drive a *step function*::

    step_fn(tokens, state) -> (log_probs, new_state)

``tokens`` is int32 ``[N]`` (the last token of every hypothesis), ``state``
any nest of tensors whose first axis is ``N`` (LSTM states, projected image
features, ...) and ``log_probs`` float32 ``[N, V]`` (log of the next-word
distribution). The searches are written with ``tf.while_loop`` so that they
run inside ``tf.function`` (and so inside an exported SavedModel) over a
whole batch of images at once; a finished image is frozen while the others
go on, so a batch gives exactly what each image gives alone.

Id 0 is padding and is never generated (its log probability is set to
-inf). Sequences hold the generated ids only (not ``start_id``), ``end_id``
included when it was produced, then 0 (padding) up to ``max_len``.

Beam search follows the Hugging Face ``BeamSearchScorer`` scheme: at each
step the ``2k`` best continuations are ranked; those ending in ``end_id``
within the first ``k`` ranks join the finished list with the length
normalised score ``sum(log p) / length ** length_penalty`` (``length``
counts generated tokens including ``end_id``); the ``k`` best others stay
alive. An image is done when it has ``k`` finished hypotheses and the best
alive one, normalised at the current length, cannot beat the worst of them;
hypotheses still alive at ``max_len`` are finished as they are (truncated).
With ``beam_width=1`` this is exactly greedy search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

StepFn = Callable[[tf.Tensor, Any], tuple[tf.Tensor, Any]]

_NEG_INF = -1e9


def _check(max_len: int, beam_width: int = 1) -> None:
    if int(max_len) < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if int(beam_width) < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")


def _no_pad(log_probs: tf.Tensor) -> tf.Tensor:
    """Log probabilities as float32 with id 0 (padding) made impossible."""
    log_probs = tf.cast(log_probs, tf.float32)
    V = tf.shape(log_probs)[-1]
    return log_probs + tf.one_hot(0, V, on_value=_NEG_INF, off_value=0.0)


def _keep_shapes(new: Any, old: Any) -> Any:
    """Gives loop outputs the static shapes of the loop inputs (while_loop)."""
    return tf.nest.map_structure(lambda n, o: tf.ensure_shape(n, o.shape), new, old)


def _set_column(seq: tf.Tensor, t: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """``seq[..., t] = values`` for a fixed-shape int tensor (graph friendly)."""
    max_len = tf.shape(seq)[-1]
    onehot = tf.one_hot(t, max_len, dtype=seq.dtype)
    return seq * (1 - onehot) + values[..., None] * onehot


def greedy_search(
    step_fn: StepFn,
    initial_state: Any,
    batch_size: int | tf.Tensor,
    start_id: int,
    end_id: int,
    max_len: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Picks the most likely next token until ``end_id`` or ``max_len``.

    Args:
        step_fn: see the module docstring.
        initial_state: nest of ``[batch_size, ...]`` tensors.
        batch_size: number of sequences.
        start_id: first input token.
        end_id: the token that ends a sequence (kept in the output).
        max_len: most tokens generated per sequence.

    Returns:
        ``(tokens, log_prob)``: int32 ``[batch_size, max_len]`` and float32
        ``[batch_size]`` (sum of the chosen tokens' log probabilities).
    """
    _check(max_len)
    max_len = int(max_len)
    seq = tf.zeros(tf.stack([batch_size, max_len]), tf.int32)
    last = tf.fill(tf.reshape(batch_size, [1]), tf.constant(start_id, tf.int32))
    done = tf.zeros(tf.reshape(batch_size, [1]), tf.bool)
    score = tf.zeros(tf.reshape(batch_size, [1]), tf.float32)

    def cond(t, seq, last, done, score, state):
        return tf.logical_and(t < max_len, tf.logical_not(tf.reduce_all(done)))

    def body(t, seq, last, done, score, state):
        seq_in, done_in, score_in = seq, done, score
        log_probs, new_state = step_fn(last, state)
        log_probs = _no_pad(log_probs)
        tok = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        tok_lp = tf.gather(log_probs, tok, batch_dims=1)
        tok = tf.where(done, tf.zeros_like(tok), tok)
        score = tf.where(done, score, score + tok_lp)
        seq = _set_column(seq, t, tok)
        done = tf.logical_or(done, tf.equal(tok, end_id))
        new_state = tf.nest.map_structure(
            lambda new, old: _where_rows(done, old, new), new_state, state
        )
        return _keep_shapes(
            (t + 1, seq, tok, done, score, new_state),
            (t, seq_in, last, done_in, score_in, state),
        )

    _, seq, _, _, score, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(0), seq, last, done, score, initial_state),
        maximum_iterations=max_len,
    )
    return seq, score


def _where_rows(mask: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Rows of ``a`` where ``mask`` ([N]) else rows of ``b``."""
    m = tf.reshape(
        mask, tf.concat([tf.shape(mask), tf.ones([tf.rank(a) - 1], tf.int32)], 0)
    )
    return tf.where(m, a, b)


def _tile_beams(x: tf.Tensor, k: int) -> tf.Tensor:
    return tf.repeat(x, k, axis=0)


def beam_search(
    step_fn: StepFn,
    initial_state: Any,
    batch_size: int | tf.Tensor,
    start_id: int,
    end_id: int,
    max_len: int,
    beam_width: int = 3,
    length_penalty: float = 1.0,
    return_all: bool = False,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Batched beam search with length normalisation (see the module docstring).

    Args:
        step_fn, initial_state, batch_size, start_id, end_id, max_len: as
            ``greedy_search``; the state is tiled to ``batch_size *
            beam_width`` rows (beam ``j`` of image ``b`` is row
            ``b * beam_width + j``).
        beam_width: hypotheses kept per image (``k``).
        length_penalty: alpha in ``score = sum(log p) / length ** alpha``;
            0 scores raw log probabilities, 1 their mean.
        return_all: return all ``k`` finished hypotheses, best first.

    Returns:
        ``(tokens, scores)``: int32 ``[B, max_len]`` and float32 ``[B]`` (the
        best hypothesis), or ``[B, k, max_len]`` and ``[B, k]`` with
        ``return_all``.
    """
    _check(max_len, beam_width)
    k, max_len = int(beam_width), int(max_len)
    alpha = float(length_penalty)
    B = batch_size
    state = tf.nest.map_structure(lambda x: _tile_beams(x, k), initial_state)
    shape_bk = tf.stack([B, k])
    alive_seq = tf.zeros(tf.stack([B, k, max_len]), tf.int32)
    first = tf.concat([[0.0], tf.fill([k - 1], _NEG_INF)], 0)
    alive_lp = tf.zeros(shape_bk, tf.float32) + first[None, :]
    last = tf.fill(shape_bk, tf.constant(start_id, tf.int32))
    fin_seq = tf.zeros(tf.stack([B, k, max_len]), tf.int32)
    fin_score = tf.fill(shape_bk, tf.constant(_NEG_INF, tf.float32))
    done = tf.zeros(tf.reshape(B, [1]), tf.bool)

    def norm(lp, length):
        return lp / tf.pow(tf.cast(length, tf.float32), alpha)

    def cond(t, alive_seq, alive_lp, last, fin_seq, fin_score, done, state):
        return tf.logical_and(t < max_len, tf.logical_not(tf.reduce_all(done)))

    def body(t, alive_seq, alive_lp, last, fin_seq, fin_score, done, state):
        old = (t, alive_seq, alive_lp, last, fin_seq, fin_score, done, state)
        log_probs, new_state = step_fn(tf.reshape(last, [-1]), state)
        log_probs = _no_pad(log_probs)
        V = tf.shape(log_probs)[-1]
        cand = alive_lp[:, :, None] + tf.reshape(log_probs, tf.stack([B, k, V]))
        cand = tf.reshape(cand, tf.stack([B, k * V]))
        top_lp, top_idx = tf.math.top_k(cand, k=2 * k)  # [B, 2k], sorted
        top_beam = top_idx // V
        top_tok = top_idx % V
        top_seq = tf.gather(alive_seq, top_beam, batch_dims=1)  # [B, 2k, T]
        top_seq = _set_column(top_seq, t, top_tok)
        is_end = tf.equal(top_tok, end_id)
        rank = tf.range(2 * k)[None, :]
        # Finished: ended candidates ranked within the first k.
        new_fin = tf.logical_and(is_end, rank < k)
        new_fin_score = tf.where(new_fin, norm(top_lp, t + 1), _NEG_INF)
        all_seq = tf.concat([fin_seq, top_seq], axis=1)
        all_score = tf.concat([fin_score, new_fin_score], axis=1)
        f_score, f_idx = tf.math.top_k(all_score, k=k)
        f_seq = tf.gather(all_seq, f_idx, batch_dims=1)
        # Alive: the k best candidates that did not end.
        alive_cand = tf.where(is_end, _NEG_INF * 2, top_lp)
        a_lp, a_idx = tf.math.top_k(alive_cand, k=k)
        a_seq = tf.gather(top_seq, a_idx, batch_dims=1)
        a_tok = tf.gather(top_tok, a_idx, batch_dims=1)
        parent = tf.gather(top_beam, a_idx, batch_dims=1)  # [B, k]
        flat_parent = tf.reshape(
            parent + tf.range(B)[:, None] * k, [-1]
        )  # rows into [B*k]
        a_state = tf.nest.map_structure(lambda s: tf.gather(s, flat_parent), new_state)
        # Last step: alive hypotheses are finished as they are (truncated).
        last_step = tf.equal(t, max_len - 1)
        trunc_score = tf.where(last_step, norm(a_lp, t + 1), _NEG_INF)
        all_seq2 = tf.concat([f_seq, a_seq], axis=1)
        all_score2 = tf.concat([f_score, trunc_score], axis=1)
        f_score, f_idx2 = tf.math.top_k(all_score2, k=k)
        f_seq = tf.gather(all_seq2, f_idx2, batch_dims=1)
        # Done: k finished and the best alive cannot beat the worst finished.
        worst = tf.reduce_min(f_score, axis=1)
        full = worst > _NEG_INF / 2
        now_done = tf.logical_or(
            last_step, tf.logical_and(full, worst >= norm(a_lp[:, 0], t + 1))
        )
        # Frozen images keep everything as it was.
        keep = done  # [B]
        alive_seq = _where_rows(keep, alive_seq, a_seq)
        alive_lp = _where_rows(keep, alive_lp, a_lp)
        last = _where_rows(keep, last, a_tok)
        fin_seq = _where_rows(keep, fin_seq, f_seq)
        fin_score = _where_rows(keep, fin_score, f_score)
        keep_rows = tf.repeat(keep, k)
        state = tf.nest.map_structure(
            lambda old, new: _where_rows(keep_rows, old, new), state, a_state
        )
        done = tf.logical_or(done, now_done)
        new = (t + 1, alive_seq, alive_lp, last, fin_seq, fin_score, done, state)
        return _keep_shapes(new, old)

    out = tf.while_loop(
        cond,
        body,
        (tf.constant(0), alive_seq, alive_lp, last, fin_seq, fin_score, done, state),
        maximum_iterations=max_len,
    )
    fin_seq, fin_score = out[4], out[5]
    if return_all:
        return fin_seq, fin_score
    return fin_seq[:, 0], fin_score[:, 0]


def ids_to_text(
    ids: tf.Tensor, tokens: tf.Tensor | list[str], end_id: int, skip_ids=(0, 2)
) -> tf.Tensor:
    """In-graph ``Vocabulary.decode``: ids ``[B, T]`` -> captions ``[B]`` strings.

    Stops at the first ``end_id``; ``skip_ids`` (padding and ``startseq`` by
    default, as ``Vocabulary.decode``) are left out; words are joined by
    spaces.
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    table = tf.convert_to_tensor(tokens, tf.string)
    ended = tf.cumsum(tf.cast(tf.equal(ids, end_id), tf.int32), axis=1) > 0
    keep = tf.logical_not(ended)
    for s in skip_ids:
        keep = tf.logical_and(keep, tf.not_equal(ids, s))
    words = tf.ragged.boolean_mask(tf.gather(table, ids), keep)
    return tf.strings.reduce_join(words, axis=1, separator=" ")


def decode(
    step: Any,
    state: Any,
    batch_size: Any,
    start_id: int,
    end_id: int,
    max_len: int,
    beam_width: int = 1,
    length_penalty: float = 1.0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Greedy search for ``beam_width == 1``, else beam search: the one place
    every caller (inference, exports) picks between them."""
    if int(beam_width) == 1:
        return greedy_search(step, state, batch_size, start_id, end_id, max_len)
    return beam_search(
        step, state, batch_size, start_id, end_id, max_len,
        beam_width=int(beam_width), length_penalty=float(length_penalty),
    )  # fmt: skip
