"""Cut a backbone at a named layer: that layer's output, then global pooling.

``image_towers.get(..., cut_at=NAME)`` uses this to take features from an
earlier stage of a backbone (e.g. ``"conv4_block6_out"`` of ResNet50).
"""

from __future__ import annotations

import difflib
from collections.abc import Container

import keras

POOL_LAYER = "cut_avg_pool"
_SHOWN = 6  # layer names listed in an error message, from each end


def cut_points(model: keras.Model, exclude: Container[str] = ()) -> list[str]:
    """Names of ``model``'s layers that it can be cut at, from the input on.

    A layer qualifies when it is not an input and has one output of rank 4
    (a feature map, pooled after the cut) or rank 2 (features, kept as they
    are). ``exclude`` names layers that never qualify.
    """
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.name in exclude:
            continue
        try:
            rank = len(layer.output.shape)
        except (AttributeError, ValueError):  # several outputs or call sites
            continue
        if rank in (2, 4):
            names.append(layer.name)
    return names


def _examples(valid: list[str], name: str) -> str:
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    if len(valid) <= 2 * _SHOWN:
        shown = ", ".join(valid)
    else:
        shown = f"{', '.join(valid[:_SHOWN])}, ..., {', '.join(valid[-_SHOWN:])}"
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"{hint}{len(valid)} valid layers: {shown}"


def truncate(
    model: keras.Model,
    layer_name: str,
    name: str | None = None,
    exclude: Container[str] = (),
    what: str = "model",
) -> keras.Model:
    """``model`` from its input to ``layer_name``'s output, globally pooled.

    The returned functional model shares ``model``'s layers and weights up to
    the cut. A rank-4 output ``[B, h, w, C]`` is followed by
    ``GlobalAveragePooling2D`` (named ``POOL_LAYER``) to ``[B, C]``; a rank-2
    output is returned as it is.

    Args:
        model: a functional model with one input (``model.input``).
        layer_name: the layer to cut at (one of ``cut_points(model)``).
        name: the returned model's name (default ``model.name``).
        exclude: layer names that are not valid cut points.
        what: the model's description, for error messages.

    Raises:
        ValueError: ``layer_name`` is not a valid cut point; the message
            lists close matches and some valid names.
    """
    valid = cut_points(model, exclude)
    if layer_name not in valid:
        raise ValueError(
            f"{what} cannot be cut at {layer_name!r}: no such layer with a "
            f"feature-map or feature output; {_examples(valid, layer_name)}"
        )
    x = model.get_layer(layer_name).output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    return keras.Model(model.input, x, name=name or model.name)
