"""Embedding models for metric learning: raw pixels -> embeddings ``[B, dim]``.

- ``build_embedder``: an image tower, ``Dense(dim)`` and (by default) L2
  normalisation; ``multiscale=True`` is the multi-scale network of Wang et
  al., "Learning Fine-grained Image Similarity with Deep Ranking" (2014).
- ``triplet_net``: the CIFAR-10 embedding network of Hoffer & Ailon, "Deep
  metric learning using Triplet network" (2015).
- ``stacked_model``: one shared embedder applied to ``n`` images, stacked to
  ``[B, n, dim]``: the ``y_pred`` of the triplet, softmax-ratio and
  contrastive losses of ``mmvision.losses``.

Every model takes raw pixels in ``[0, 255]`` and reloads from ``.keras`` with
no ``custom_objects`` once ``mmvision.layers`` is imported.

Example:

```python
emb = build_embedder("small_cnn", image_size=32, dim=64)
net = stacked_model(emb, 3)  # {"image_0", "image_1", "image_2"} -> [B, 3, 64]
net.compile("adam", loss=mmvision.losses.TripletHingeLoss())
```
"""

from __future__ import annotations

import os

import keras
from keras import layers

from mmvision.layers.image_preprocessing import ImagePreprocessing
from mmvision.layers.l2_normalize import L2Normalize
from mmvision.models import image_towers
from mmvision.models.names import IMAGE_INPUT, IMAGE_TOWER

DENSE_LAYER = "embedding_dense"
EMBEDDING_LAYER = "embedding"
SHALLOW_FACTORS = (4, 8)  # down-sampling of Wang et al.'s two shallow branches


def _tower(
    tower: keras.Model | str, image_size: int, weights: str | os.PathLike | None
) -> keras.Model:
    """``image_towers.get`` for a name; a built tower is checked and renamed."""
    if isinstance(tower, str):
        shape = (image_size, image_size, 3)
        return image_towers.get(tower, shape, weights=weights, name=IMAGE_TOWER)
    if not isinstance(tower, keras.Model):
        raise TypeError(f"tower must be a tower name or a keras.Model, got {tower!r}")
    if weights is not None:
        raise ValueError(
            "tower_weights applies to a tower given by name; load the weights "
            "of a built tower before passing it"
        )
    side = tuple(tower.input_shape[1:3])
    if any(s is not None and int(s) != image_size for s in side):
        raise ValueError(f"the given tower takes {side} px images, not {image_size} px")
    if len(tower.output_shape) != 2:
        raise ValueError(
            f"the given tower must output pooled features [B, D], got "
            f"{tower.output_shape}"
        )
    tower.name = IMAGE_TOWER
    return tower


def _shallow_branch(pixels, factor: int, filters: int):
    """Down-sample ``factor``x, 3x3 conv + ReLU, 2x2 max-pool, global average."""
    p = f"shallow{factor}"
    x = layers.AveragePooling2D(factor, name=f"{p}_downsample")(pixels)
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{p}_conv")(
        x
    )
    x = layers.MaxPooling2D(2, padding="same", name=f"{p}_pool")(x)
    return layers.GlobalAveragePooling2D(name=f"{p}_gap")(x)


def build_embedder(
    tower: keras.Model | str,
    image_size: int,
    dim: int,
    l2_normalize: bool = True,
    dropout: float = 0.0,
    name: str = "embedder",
    multiscale: bool = False,
    tower_weights: str | os.PathLike | None = None,
    shallow_filters: int = 96,
) -> keras.Model:
    """``{"image"} -> tower -> [Dropout] -> Dense(dim) -> [L2Normalize]``.

    Layers: input ``"image"`` (``names.IMAGE_INPUT``, float pixels
    ``[S, S, 3]`` in ``[0, 255]``), the tower (``names.IMAGE_TOWER``, so the
    model is a feature source like the task models), ``"embedding_dropout"``
    when ``dropout > 0``, ``Dense(dim)`` ``"embedding_dense"`` (no activation)
    and ``L2Normalize`` ``"embedding"`` when ``l2_normalize``. The output is
    float32.

    ``multiscale=True`` builds Wang et al.'s multi-scale deep ranking
    network: the tower's features are L2-normalised (``"deep_l2"``, as in the
    paper) and concatenated (``"multiscale_concat"``) with two shallow
    branches on the input down-sampled 4x and 8x (``"shallow4_*"``,
    ``"shallow8_*"``: average pooling, 3x3 conv with ``shallow_filters`` maps
    and ReLU, 2x2 max-pool, global average pooling, on pixels scaled to
    ``[0, 1]``), then projected to ``dim`` and L2-normalised.

    Args:
        tower: a name of ``image_towers.NAMES`` or a built tower (one input
            of raw pixels, output ``[B, D]``; it is renamed ``"image_tower"``).
        image_size: the input side ``S``.
        dim: the embedding width.
        l2_normalize: end with ``L2Normalize`` (unit-norm embeddings).
        dropout: rate of a Dropout before the projection (0: none).
        name: the model's name.
        multiscale: add the two shallow branches (needs ``S >= 16``).
        tower_weights: ``weights`` of ``image_towers.get`` for a tower name
            (``None``, ``"imagenet"`` from the offline cache, or a file).
        shallow_filters: maps of each shallow branch's convolution.

    Returns:
        A ``keras.Model`` from ``{"image": [B, S, S, 3]}`` to ``[B, dim]``.

    Raises:
        ValueError: bad sizes or rates, a built tower that does not fit, or
            ``tower_weights`` with a built tower.
    """
    image_size, dim = int(image_size), int(dim)
    if image_size < 1 or dim < 1:
        raise ValueError(f"image_size and dim must be >= 1, got {image_size}, {dim}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if multiscale and image_size < 2 * max(SHALLOW_FACTORS):
        raise ValueError(
            f"multiscale needs image_size >= {2 * max(SHALLOW_FACTORS)}, got "
            f"{image_size}"
        )
    net = _tower(tower, image_size, tower_weights)
    image = keras.Input((image_size, image_size, 3), name=IMAGE_INPUT)
    x = net(image)
    if multiscale:
        pixels = layers.Rescaling(1.0 / 255.0, name="shallow_rescale")(image)
        parts = [L2Normalize(name="deep_l2")(x)]
        parts += [_shallow_branch(pixels, f, shallow_filters) for f in SHALLOW_FACTORS]
        x = layers.Concatenate(name="multiscale_concat")(parts)
    if dropout > 0:
        x = layers.Dropout(float(dropout), name="embedding_dropout")(x)
    x = layers.Dense(dim, dtype="float32", name=DENSE_LAYER)(x)
    if l2_normalize:
        x = L2Normalize(dtype="float32", name=EMBEDDING_LAYER)(x)
    return keras.Model({IMAGE_INPUT: image}, x, name=name)


def triplet_net(
    image_size: int = 32, dim: int = 128, dropout: float = 0.5, name="triplet_net"
) -> keras.Model:
    """Hoffer & Ailon's CIFAR-10 triplet network: ``{"image"} -> [B, dim]``.

    Four valid-padded convolutions with kernels 5, 3, 3, 2 and 64, 128, 256,
    ``dim`` (128) maps. A 2x2 max-pool (stride 2) and a ReLU follow each of
    the first three (``conv1 -> pool1 -> relu1``, ... ``relu3``); a Dropout
    of ``dropout`` comes after ``relu3``, before ``conv4``, which has no
    activation. At 32 px the maps are 28, 14, 12, 6, 4, 2, then 1x1 at
    ``conv4``: its ``dim`` channels are the embedding (``"embedding"``, a
    global average that is the identity at 32 px and pools larger inputs).
    Not normalised, as in the paper. Pixels are scaled to ``[0, 1]``
    (``"preprocessing"``).

    Args:
        image_size: the input side, at least 32.
        dim: the embedding width (maps of ``conv4``).
        dropout: the Dropout rate, in ``[0, 1)``.
        name: the model's name.
    """
    if int(image_size) < 32:
        raise ValueError(f"triplet_net needs image_size >= 32, got {image_size}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    image = keras.Input((int(image_size), int(image_size), 3), name=IMAGE_INPUT)
    x = ImagePreprocessing("unit", name="preprocessing")(image)
    for i, (kernel, maps) in enumerate(((5, 64), (3, 128), (3, 256)), start=1):
        x = layers.Conv2D(maps, kernel, name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
    x = layers.Dropout(float(dropout), name="dropout")(x)
    x = layers.Conv2D(int(dim), 2, name="conv4")(x)
    x = layers.GlobalAveragePooling2D(dtype="float32", name=EMBEDDING_LAYER)(x)
    return keras.Model({IMAGE_INPUT: image}, x, name=name)


def stacked_model(
    embedder: keras.Model, n: int = 3, name: str = "stacked_embedder"
) -> keras.Model:
    """One shared ``embedder`` on ``n`` images: ``[B, n, dim]`` embeddings.

    Inputs ``"image_0"`` ... ``"image_{n-1}"`` (shaped like the embedder's
    input); output ``"stacked_embeddings"``, ``[B, n, dim]`` with image ``i``
    at ``[:, i]``. For the triplet losses ``image_0, image_1, image_2`` are
    anchor, positive, negative (rename the triplet pipeline's keys). The
    embedder is one layer called ``n`` times, so the weights are shared.

    Args:
        embedder: a model with one image input and an output ``[B, dim]``
            (``build_embedder``, ``triplet_net`` or an image tower).
        n: number of images, at least 1.
        name: the model's name.
    """
    if int(n) < 1:
        raise ValueError(f"stacked_model: n must be >= 1, got {n!r}")
    struct = embedder.input
    key = None
    if isinstance(struct, dict):
        if len(struct) != 1:
            raise ValueError(f"stacked_model: the embedder has inputs {list(struct)}")
        ((key, struct),) = struct.items()
    elif isinstance(struct, (list, tuple)):
        raise ValueError("stacked_model: the embedder must have one input")
    if len(embedder.output_shape) != 2:
        raise ValueError(
            f"stacked_model: the embedder must output [B, dim], got "
            f"{embedder.output_shape}"
        )
    dim = int(embedder.output_shape[-1])
    inputs = {
        f"image_{i}": keras.Input(tuple(struct.shape[1:]), name=f"image_{i}")
        for i in range(int(n))
    }
    rows = []
    for i, x in enumerate(inputs.values()):
        e = embedder({key: x} if key is not None else x)
        rows.append(layers.Reshape((1, dim), name=f"row_{i}")(e))
    if len(rows) == 1:
        out = layers.Identity(name="stacked_embeddings")(rows[0])
    else:
        out = layers.Concatenate(axis=1, name="stacked_embeddings")(rows)
    return keras.Model(inputs, out, name=name)
