"""The caption-word ("visual concept") tagger: an image tower and one sigmoid
per vocabulary word (the word detectors of Fang et al. 2015, "From Captions
to Visual Concepts and Back").

It learns what is in an image from the captions themselves, one pass per
image per epoch, when no pre-trained weights fit the images; its tower is
then a feature source for the captioner.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmvision.data import text as text_lib
from mmvision.data.vocabulary import Vocabulary
from mmvision.models.names import IMAGE_INPUT, IMAGE_TOWER

OUTPUT_LAYER = "concepts"


def word_targets(captions: Any, vocab: Vocabulary) -> np.ndarray:
    """Soft targets ``[N, V]``: the share of each image's captions using word v.

    ``captions`` holds one list of caption strings per image (a Manifest's
    ``captions`` column). Reserved tokens (padding, unknown, start, end) get
    0; an image without captions gets a zero row.

    Example:
    >>> v = Vocabulary.build(["red circle", "red disc"])
    >>> t = word_targets([["a red circle", "red disc"]], v)
    >>> float(t[0, v.index("red")]), float(t[0, v.index("disc")])
    (1.0, 0.5)
    """
    out = np.zeros((len(captions), len(vocab)), np.float32)
    for i, caps in enumerate(captions):
        caps = list(caps) if caps is not None and not isinstance(caps, float) else []
        for c in caps:
            ids = {j for j in vocab.encode(c, add_special=False) if j > text_lib.END_ID}
            out[i, sorted(ids)] += 1.0
        if caps:
            out[i] /= len(caps)
    return out


def build_concept_model(
    tower: Any, vocab_size: int, dropout: float = 0.2, seed: int = 0
) -> Any:
    """``{"image"} -> tower -> Dropout -> Dense(vocab_size, sigmoid)``.

    The tower is renamed ``"image_tower"`` (what a feature source needs).
    """
    import keras

    tower.name = IMAGE_TOWER
    image = keras.Input(shape=tuple(tower.input_shape[1:]), name=IMAGE_INPUT)
    x = keras.layers.Dropout(dropout, seed=seed, name="concept_dropout")(tower(image))
    y = keras.layers.Dense(
        int(vocab_size), activation="sigmoid", dtype="float32", name=OUTPUT_LAYER
    )(x)
    return keras.Model({IMAGE_INPUT: image}, y, name="concept_tower")


def concept_dataset(
    manifest: Any,
    targets: np.ndarray,
    image_size: int,
    batch_size: int,
    training: bool,
    augment: str | None = None,
    seed: int = 0,
    stats: Any = None,
) -> Any:
    """``({"image"}, targets)`` batches; rows align with ``targets``.

    Images are decoded, cached and (when ``training``) shuffled and
    augmented by ``pipelines.classification_dataset``; undecodable images are
    dropped and counted in ``stats``.
    """
    import tensorflow as tf

    from mmvision.data import pipelines

    ids = [str(i) for i in manifest["id"]]
    if len(ids) != len(targets):
        raise ValueError(f"{len(ids)} manifest rows but {len(targets)} target rows")
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(ids), tf.range(len(ids), dtype=tf.int64)
        ),
        default_value=-1,
    )
    tgt = tf.constant(targets, tf.float32)
    ds = pipelines.classification_dataset(
        manifest,
        image_size=int(image_size),
        batch_size=int(batch_size),
        fields=("image", "id"),
        label_mode="none",
        augment=augment if training else None,
        shuffle=training,
        seed=seed,
        cache=True,
        stats=stats,
        deterministic=not training,
    )

    def attach(batch):
        return {"image": batch["image"]}, tf.gather(tgt, table.lookup(batch["id"]))

    return ds.map(attach, num_parallel_calls=tf.data.AUTOTUNE)


def word_map(targets: np.ndarray, scores: np.ndarray) -> float:
    """Mean average precision over words present in some caption and absent
    in others (``sklearn.metrics.average_precision_score``)."""
    from sklearn.metrics import average_precision_score

    present = targets > 0
    cols = [
        j for j in range(targets.shape[1]) if 0 < present[:, j].sum() < len(present)
    ]
    if not cols:
        return float("nan")
    return float(
        np.mean([average_precision_score(present[:, j], scores[:, j]) for j in cols])
    )
