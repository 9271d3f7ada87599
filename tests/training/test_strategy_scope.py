"""``training.strategy.scope``: no scope for the default strategy, the
strategy's own scope otherwise."""

import contextlib

import tensorflow as tf

from mmvision.training import strategy


def test_default_strategy_enters_no_scope():
    assert isinstance(strategy.scope(strategy.get("default")), contextlib.nullcontext)
    assert isinstance(strategy.scope(None), contextlib.nullcontext)


def test_other_strategies_enter_their_scope():
    mirrored = strategy.get("mirrored")
    with strategy.scope(mirrored):
        assert tf.distribute.has_strategy()
        assert tf.distribute.get_strategy() is mirrored
        # inside another strategy's scope the default one is not "default"
        assert not isinstance(
            strategy.scope(tf.distribute.get_strategy()), contextlib.nullcontext
        )
    assert not tf.distribute.has_strategy()
