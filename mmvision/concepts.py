"""Caption-word ("visual concept") training of an image tower.

Before a merge decoder can name what is in an image, its image features must
tell those things apart. Without ImageNet weights (offline, or on a domain
ImageNet does not cover) a tower can learn them from the captions
themselves, one image at a time: it predicts, for every vocabulary word,
the share of the image's reference captions that use the word (binary
cross entropy on soft targets; the word detectors of Fang et al. 2015,
"From Captions to Visual Concepts and Back"). One pass per image per epoch,
where end-to-end caption training pays one per caption, and every word of
every caption supervises the tower, where a classifier sees one label.

The result is a run directory that ``mmvision.features`` accepts as a
feature source::

    model.keras       image [0, 255] -> "image_tower" -> Dropout -> "concepts" (sigmoid)
    config.json       {"task": "concepts", "data": {"image_size": S}, ...}
    history.csv       epoch, loss, val_loss, learning_rate
    metrics.json      val/test word mAP, epochs, seconds
    checkpoints/      last.keras, best.weights.h5, state.json (resume)

``train_captioner`` runs this first when ``features.pretrain="concepts"``
(into ``RUN/tower``), then trains the decoder on the cached features.

Example:
>>> metrics = train_concept_tower(manifest, vocab, "runs/tower",
...     tower="small_resnet", image_size=64, epochs=30)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmvision import runs
from mmvision.data import text as text_lib
from mmvision.utils import write_json_atomic

TASK = "concepts"
OUTPUT_LAYER = "concepts"
TOWER_LAYER = "image_tower"


def word_targets(captions: Any, vocab: text_lib.Vocabulary) -> np.ndarray:
    """Soft targets ``[N, V]``: the share of each image's captions using word v.

    ``captions`` holds one list of caption strings per image (a Manifest's
    ``captions`` column). Reserved tokens (padding, unknown, start, end) get
    0; an image without captions gets a zero row.

    Example:
    >>> v = text_lib.Vocabulary.build(["red circle", "red disc"])
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

    tower.name = TOWER_LAYER
    image = keras.Input(shape=tuple(tower.input_shape[1:]), name="image")
    x = keras.layers.Dropout(dropout, seed=seed, name="concept_dropout")(tower(image))
    y = keras.layers.Dense(
        int(vocab_size), activation="sigmoid", dtype="float32", name=OUTPUT_LAYER
    )(x)
    return keras.Model({"image": image}, y, name="concept_tower")


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


def _rows(manifest: Any, split: str) -> Any:
    return manifest[manifest["split"] == split].reset_index(drop=True)


def train_concept_tower(
    manifest: Any,
    vocab: text_lib.Vocabulary,
    out_dir: str | os.PathLike,
    *,
    tower: str = "small_resnet",
    weights: str | None = None,
    image_size: int = 64,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    augment: str | None = "flip",
    dropout: float = 0.2,
    seed: int = 0,
    verbose: int = 2,
) -> dict[str, Any]:
    """Trains an image tower on caption words; writes and returns its metrics.

    Trains on the manifest's ``train`` split, keeps the model of the lowest
    ``val`` loss as ``model.keras``, scores word mAP on val and test. The
    learning rate decays to 0 over ``epochs`` (cosine, per step). A run
    directory already holding ``checkpoints/last.keras`` is continued from
    it (the caller decides whether that is a resume); a finished one is
    returned as it is.

    Args:
        manifest: a Manifest with ``captions`` and ``split`` columns.
        vocab: the captioner's vocabulary (targets are its words).
        out_dir: the tower's run directory.
        tower, weights: image tower name and its initial weights
            (``image_towers.get``).
        image_size, epochs, batch_size, learning_rate, augment, dropout,
        seed, verbose: as their names say (``augment``: an
            ``mmvision.data.augment`` preset; ``"dihedral"`` only for images
            whose words do not depend on orientation).

    Raises:
        ValueError: a split without images, or a run directory trained with
            another vocabulary (naming the file).
    """
    import keras

    from mmvision.data.images import PipelineStats
    from mmvision.models import image_towers

    out = Path(out_dir)
    cfg_path, metrics_path = out / runs.CONFIG, out / runs.METRICS
    ckpt_dir = out / runs.CHECKPOINTS
    settings = {
        "task": TASK,
        "data": {"image_size": int(image_size), "batch_size": int(batch_size),
                 "augment": augment},
        "model": {"tower": tower, "weights": weights, "dropout": float(dropout)},
        "train": {"epochs": int(epochs), "learning_rate": float(learning_rate),
                  "schedule": "cosine", "seed": int(seed)},
        "vocab_fingerprint": vocab.fingerprint(),
        "vocab_size": len(vocab),
    }  # fmt: skip
    if cfg_path.is_file():
        stored = json.loads(cfg_path.read_text("utf-8"))
        if stored != settings:
            raise ValueError(
                f"{cfg_path}: this tower run was trained with other settings or "
                f"another vocabulary; stored {stored}, asked {settings}"
            )
        if metrics_path.is_file() and (out / runs.MODEL).is_file():
            return json.loads(metrics_path.read_text("utf-8"))
    splits = {s: _rows(manifest, s) for s in ("train", "val", "test")}
    for s in ("train", "val"):
        if splits[s].empty:
            raise ValueError(f"concept tower: the manifest has no {s!r} images")
    targets = {s: word_targets(df["captions"], vocab) for s, df in splits.items()}
    stats = PipelineStats()
    train_ds = concept_dataset(
        splits["train"], targets["train"], image_size, batch_size, True,
        augment=augment, seed=seed, stats=stats,
    )  # fmt: skip
    val_ds = concept_dataset(
        splits["val"], targets["val"], image_size, 128, False, stats=stats
    )

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cfg_path, settings)
    if (ckpt_dir / "last.keras").is_file():
        model, state = runs.load_checkpoint(out)
    else:
        keras.utils.set_random_seed(seed)
        size = int(image_size)
        net = image_towers.get(tower, (size, size, 3), weights=weights)
        model = build_concept_model(net, len(vocab), dropout=dropout, seed=seed)
        steps = int(epochs) * runs.optimizer_steps_per_epoch(
            train_ds, len(splits["train"]), batch_size
        )
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        model.compile(keras.optimizers.Adam(lr), loss="binary_crossentropy")
        state = runs.new_state()

    t0 = time.perf_counter()
    if state["epoch"] < epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=int(epochs),
            initial_epoch=int(state["epoch"]),
            callbacks=[
                runs.learning_rate_log(),  # before the logger: it adds the column
                keras.callbacks.CSVLogger(
                    str(out / runs.HISTORY), append=state["epoch"] > 0
                ),
                runs.checkpoint_callback(out, state),
            ],
            verbose=verbose,
        )
    seconds = time.perf_counter() - t0
    runs.save_best_model(model, out)
    metrics: dict[str, Any] = {
        "epochs_trained": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_val_loss": state["best_val_loss"],
        "train_seconds": seconds,
        "skipped_images": int(sum(stats.skipped.values())),
    }
    for s in ("val", "test"):
        if splits[s].empty:
            continue
        ds = concept_dataset(splits[s], targets[s], image_size, 128, False)
        y_true, y_pred = [], []
        for x, y in ds:
            y_pred.append(np.asarray(model(x, training=False)))
            y_true.append(y.numpy())
        metrics[f"{s}_word_map"] = word_map(
            np.concatenate(y_true), np.concatenate(y_pred)
        )
    runs.write_metrics(out, metrics)
    return json.loads(metrics_path.read_text("utf-8"))
