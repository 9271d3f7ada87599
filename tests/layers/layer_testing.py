"""A shared layer test: output shape, value check, config and ``.keras`` round trips.

``run_layer_test(layer_factory, inputs, expected_shape, tmp_path)`` builds a
layer with ``layer_factory()`` and checks that

- called eagerly on ``inputs`` it gives outputs of ``expected_shape`` (a tuple,
  or a list of tuples for a list of outputs), and passes ``check`` if given;
- it is registered as ``mmvision>ClassName``, and ``from_config(get_config())``
  and ``deserialize_keras_object(serialize_keras_object(layer))`` give a layer
  of the same class with an equal config;
- a functional model made of ``keras.Input``s shaped like ``inputs`` and a
  fresh layer has the expected symbolic output shape, and after a ``.keras``
  save, ``keras.saving.load_model`` (no ``custom_objects``) gives a model with
  the same weights and identical outputs on ``inputs``.

``inputs`` is one array, or a list of arrays passed to the layer as one list
argument (``LateFusion``, ``PresenceGate``) or, with ``positional=True``, as
separate positional arguments (``MergeAdd``). Numpy object arrays are string
inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

import mmvision.layers  # noqa: F401  (registers the layers for load_model)
import mmvision.models  # noqa: F401


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _input_like(x, name: str) -> keras.KerasTensor:
    a = np.asarray(x)
    dtype = "string" if a.dtype == object else str(a.dtype)
    return keras.Input(shape=a.shape[1:], dtype=dtype, name=name)


def _call(layer, inputs, positional: bool):
    if positional:
        return layer(*inputs)
    return layer(inputs)


def _normalized_config(obj) -> dict:
    # serialize_keras_object turns nested objects left in configs into dicts.
    return keras.saving.serialize_keras_object(obj.get_config())


def run_config_round_trip(obj) -> Any:
    """``from_config(get_config())`` and (de)serialization of a Keras object.

    Works for layers, losses and metrics. Asserts the object is registered as
    ``mmvision>ClassName``, that both round trips give an object of the same
    class with an equal config, and returns the ``from_config`` clone.
    """
    cls = type(obj)
    assert keras.saving.get_registered_name(cls) == f"mmvision>{cls.__name__}"
    assert keras.saving.get_registered_object(f"mmvision>{cls.__name__}") is cls
    config = obj.get_config()
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert _normalized_config(clone) == _normalized_config(obj)
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(obj)
    )
    assert type(again) is cls
    assert _normalized_config(again) == _normalized_config(obj)
    return clone


def run_layer_test(
    layer_factory: Callable[[], keras.layers.Layer],
    inputs,
    expected_shape,
    tmp_path: str | os.PathLike,
    *,
    check: Callable[[Any, list[np.ndarray]], None] | None = None,
    positional: bool = False,
    atol: float = 0.0,
) -> keras.Model:
    """Runs the checks of the module docstring; returns the reloaded model.

    ``check(inputs, outputs)`` gets the inputs and the eager outputs as a list
    of numpy arrays, and asserts a value property of the layer.
    """
    multi = isinstance(inputs, (list, tuple))
    if positional and not multi:
        raise ValueError("positional=True needs a list of inputs")
    layer = layer_factory()
    outputs = [_numpy(o) for o in _as_list(_call(layer, inputs, positional))]
    shapes = expected_shape if isinstance(expected_shape, list) else [expected_shape]
    assert [o.shape for o in outputs] == [tuple(s) for s in shapes]
    if check is not None:
        check(inputs, outputs)

    run_config_round_trip(layer)

    fresh = layer_factory()
    if multi:
        model_inputs = [_input_like(x, f"input_{i}") for i, x in enumerate(inputs)]
    else:
        model_inputs = _input_like(inputs, "input_0")
    symbolic = _call(fresh, model_inputs, positional)
    model = keras.Model(model_inputs, symbolic)
    assert [tuple(o.shape) for o in _as_list(symbolic)] == [
        (None, *tuple(s)[1:]) for s in shapes
    ]
    expected = [_numpy(o) for o in _as_list(model(inputs))]
    path = Path(tmp_path) / "layer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is type(fresh)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    for w_loaded, w in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(_numpy(w_loaded), _numpy(w), err_msg=w.path)
    got = [_numpy(o) for o in _as_list(loaded(inputs))]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=atol, rtol=0)
    return loaded
