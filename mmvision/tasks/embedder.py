"""The image embedder task: similarity embeddings (image -> unit vector)
trained with a ranking loss.

Data: the labelled classification Manifest of ``cfg.data.format`` (for a demo
world root the ``folders/`` layout below it, read by
``data.classification_data.load_classification_data`` with no text fields),
split per class into train / val / test (or as the list
``data.split_file`` says).

- ``train.mode="offline"``: ``stacked_model(build_embedder(...), 3)`` on
  anchor / positive / negative triplets of the train classes, re-drawn each
  epoch, renamed ``image_0..2``; validation on fixed val triplets.
- ``train.mode="online"``: the embedder itself on P x K batches of images
  with their integer labels as ``y``; the miner loss forms the triplets.

``model.keras`` is always the embedder ``{"image"} -> [B, dim]`` unit
vectors (its tower layer is ``image_tower``), never the stacked training
model. ``data.held_out`` classes never reach training: their rows form the
split ``"unseen"``. Figures, for each split ``val``, ``test``, ``unseen``:
``{split}_triplet_acc`` (fixed triplets with ``D(a, p) < D(a, n)``),
``{split}_map``, ``{split}_p5``, ``{split}_recall5`` (each row queries the
rest of its split) and ``{split}_auc`` (ROC of a distance threshold over all
pairs). ``history.csv`` records the triplet accuracy of every epoch
(``triplet_accuracy`` offline, ``batch_triplet_accuracy`` online, and their
``val_``). The run also gets ``distances.png``, ``roc.png``, ``tsne.png``,
``neighbours.png`` (5 nearest / 5 farthest), ``learning_curves.png`` and
``report.html``.
"""

from __future__ import annotations

import types
from pathlib import Path

from mmvision.tasks.base import Task

KEYS = ("anchor", "positive", "negative")
OFFLINE_LOSSES = ("triplet_hinge", "softmax_ratio")
MINERS = ("batch_hard", "semi_hard", "batch_all")
UNSEEN = "unseen"  # the split of the held-out classes


def _check(cfg) -> None:
    t = cfg.train
    if t.mode not in ("offline", "online"):
        raise ValueError(f"unknown train.mode {t.mode!r}; valid: offline, online")
    if t.mode == "offline" and t.loss not in OFFLINE_LOSSES:
        raise ValueError(f"unknown train.loss {t.loss!r}; valid: {OFFLINE_LOSSES}")
    if t.mode == "online" and t.miner not in MINERS:
        raise ValueError(f"unknown train.miner {t.miner!r}; valid: {MINERS}")
    if t.lr_schedule not in (None, "cosine"):
        raise ValueError(f"unknown train.lr_schedule {t.lr_schedule!r}; valid: cosine")
    if not 0.0 <= t.in_class_negative_fraction < 1.0:
        raise ValueError(
            "train.in_class_negative_fraction must be in [0, 1), got "
            f"{t.in_class_negative_fraction!r}"
        )
    if t.in_class_negative_fraction and (t.mode != "offline" or cfg.data.triplets):
        raise ValueError(
            "train.in_class_negative_fraction applies to sampled offline triplets "
            "(train.mode=offline without data.triplets)"
        )


def _hold_out(data, names) -> None:
    """Moves the rows of the classes ``names`` to the split ``"unseen"``."""
    if not names:
        return
    unknown = sorted(set(names) - set(data.classes))
    if unknown:
        raise ValueError(
            f"data.held_out: unknown class(es) {unknown}; valid: {data.classes}"
        )
    held = [data.classes.index(n) for n in names]
    m = data.manifest
    m.loc[m["label"].isin(held), "split"] = UNSEEN


def _in_data_dir(path, data_dir) -> Path:
    """``path``, or ``data_dir / path`` when it is relative."""
    path = Path(path)
    return path if path.is_absolute() else Path(data_dir) / path


def _split_from_list(data, split_file, data_dir) -> None:
    """Replaces the split of ``data`` by the list ``split_file``."""
    from mmvision.data.split_lists import apply_split_list

    path = _in_data_dir(split_file, data_dir)
    data.manifest, data.split_counts = apply_split_list(data.manifest, path)
    for s in ("train", "val", "test"):
        if not (data.manifest["split"] == s).any():
            raise ValueError(f"data.split_file {path}: no image of split {s!r}")


def _read_triplets(cfg, data, data_dir):
    """The triplet list ``cfg.data.triplets`` (relative to ``data_dir``),
    restricted to triplets whose three images are in the train split; the
    triplets left out are counted, by reason, in ``data.triplet_skips``."""
    import logging

    from mmvision.data.sources.triplets import triplets

    path = _in_data_dir(cfg.data.triplets, data_dir)
    if not path.is_file():
        raise FileNotFoundError(f"data.triplets: no triplet list at {path}")
    table, report = triplets(path, root=data_dir, strict=cfg.data.strict)
    train = set(data.split("train")["image_path"].astype(str))
    inside = table.isin(train).all(axis=1)
    outside = int((~inside).sum())
    skipped = dict(report.skipped) if report.skipped else {}
    if outside:
        skipped["not_in_train_split"] = outside
    data.triplet_skips = skipped
    if skipped:
        logging.getLogger("mmvision").warning(
            "%s: %d triplets kept, skipped %s", path, int(inside.sum()), skipped
        )
    if not inside.any():
        raise ValueError(f"{path}: no triplet has all three images in the train split")
    return table[inside].reset_index(drop=True)


def thumbnails(df, side: int = 8):
    """``[len(df), side * side * 3]`` pixel thumbnails of ``df``'s images: the
    golden features that order in-class triplets (Wang et al. used such
    hand-made features). An unreadable image gets a row of zeros."""
    import numpy as np

    from mmvision.data import images

    out = np.zeros((len(df), side * side * 3), np.float32)
    for i, path in enumerate(df["image_path"].astype(str)):
        try:
            out[i] = images.file_to_pixels(path, side).reshape(-1) / 255.0
        except (images.ImageDecodeError, OSError):
            pass
    return out


class EmbedderTask(Task):
    """``train embedder``: offline triplets or online-mined P x K batches."""

    name = "embedder"
    resume_keys = ("train.epochs", "train.verbose", "train.patience")

    def patience(self, cfg):
        return int(cfg.train.patience)

    # --------------------------------------------------------------- data
    def load_data(self, cfg, data_dir, run=None):
        from mmvision.data.classification_data import load_classification_data

        _check(cfg)
        shim = types.SimpleNamespace(
            data=types.SimpleNamespace(
                format=cfg.data.format, sources=cfg.data.sources, fields=(),
                split=cfg.data.split, val_fraction=cfg.data.val_fraction,
                test_fraction=cfg.data.test_fraction, split_seed=cfg.data.split_seed,
            ),
            model=types.SimpleNamespace(text_tower=None),
        )  # fmt: skip
        data = load_classification_data(shim, data_dir)
        data.manifest = data.manifest[data.manifest["label"] >= 0].copy()
        data.split_counts = None
        if cfg.data.split_file:
            _split_from_list(data, cfg.data.split_file, data_dir)
        _hold_out(data, cfg.data.held_out)
        data.triplets = None
        if cfg.data.triplets:
            data.triplets = _read_triplets(cfg, data, data_dir)
        return data

    def run_info(self, cfg, data):
        info = {"classes": data.classes, "rows": int(len(data.manifest))}
        if data.split_counts is not None:
            info["split_file"] = data.split_counts
        if cfg.data.held_out:
            info["held_out"] = list(cfg.data.held_out)
        if data.triplets is not None:
            info["triplets"] = {"kept": len(data.triplets)} | data.triplet_skips
        return info

    def _triplets(self, cfg, df, training):
        from mmvision.data import pipelines

        t = cfg.train
        n = (
            int(t.steps_per_epoch) * int(t.batch_size)
            if training and t.steps_per_epoch
            else (len(df) if training else int(cfg.data.val_triplets))
        )
        frac = float(t.in_class_negative_fraction) if training else 0.0
        gold = thumbnails(df) if frac else None  # _check: never with a triplet list
        ds = pipelines.triplet_dataset(
            df, split=None, n_triplets=n, resample=training, shuffle=training,
            in_class_fraction=frac, relevance=gold,
            batch_size=t.batch_size, seed=t.seed if training else t.seed + 1,
            image_size=cfg.data.image_size,
            augment=(cfg.data.augment or None) if training else None,
        )  # fmt: skip
        return ds.map(
            lambda f, y: ({f"image_{i}": f[k] for i, k in enumerate(KEYS)}, y)
        )

    def _pk(self, cfg, df, training, names=None):
        import numpy as np
        import tensorflow as tf

        from mmvision.data import augment as aug
        from mmvision.data.images import bytes_to_pixels
        from mmvision.samplers.pk_batches import pk_batches

        t, size = cfg.train, int(cfg.data.image_size)
        labels = df["label"].to_numpy().astype(np.int64)
        k = int(t.k)
        if not training:  # the val split may hold fewer rows per class
            k = max(2, min(k, int(np.bincount(labels).max())))
        try:
            rows = pk_batches(
                labels, t.p, k, (t.steps_per_epoch if training else None),
                seed=t.seed if training else t.seed + 1, resample=training,
                strict=training, what=f"embedder {'train' if training else 'val'}",
                names=names,
            )  # fmt: skip
        except ValueError as err:
            raise ValueError(f"{err} (set a smaller train.k or train.p)") from None
        paths = tf.constant(df["image_path"].astype(str).to_numpy())
        ys = tf.constant(labels.astype(np.int32))
        augment = aug.get(cfg.data.augment) if training else None

        def load(r, s):
            x = bytes_to_pixels(tf.io.read_file(tf.gather(paths, r)), size)
            x.set_shape((size, size, 3))
            if augment is not None:
                x = augment(x, s)
            return {"image": x}, tf.gather(ys, r)

        seeds = tf.data.Dataset.random(seed=t.seed).batch(2)
        seeds = seeds.map(lambda s: tf.cast(s % (2**31 - 1), tf.int32))
        ds = tf.data.Dataset.zip(rows.unbatch(), seeds)
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(int(t.p) * k).prefetch(tf.data.AUTOTUNE)

    def datasets(self, cfg, data):
        train, val = data.split("train"), data.split("val")
        if cfg.train.mode == "online":
            names = data.classes
            tr, va = self._pk(cfg, train, True, names), self._pk(cfg, val, False, names)
        else:
            if data.triplets is not None:
                train = data.triplets
            tr, va = self._triplets(cfg, train, True), self._triplets(cfg, val, False)
        return tr, va

    def steps_per_epoch(self, cfg, data, train_ds):
        """Batches per training epoch (what a cosine schedule decays over)."""
        import math

        t = cfg.train
        if t.steps_per_epoch:
            return int(t.steps_per_epoch)
        if t.mode == "online":  # pk_batches' default: about one pass
            return max(1, len(data.split("train")) // (int(t.p) * int(t.k)))
        rows = (
            len(data.triplets)
            if data.triplets is not None
            else len(data.split("train"))
        )
        return max(1, math.ceil(rows / int(t.batch_size)))

    # -------------------------------------------------------------- model
    def embedder(self, cfg):
        """The image -> embedding model of ``cfg`` (untrained)."""
        from mmvision.models.embedder import build_embedder, triplet_net

        m, size = cfg.model, int(cfg.data.image_size)
        if m.tower == "triplet_net":
            return triplet_net(size, m.dim, dropout=m.dropout or 0.5)
        tower, weights = m.tower, m.weights
        if weights is not None and Path(weights).is_dir():  # a run's trained tower
            from mmvision.inference.towers import copy_of_run_tower

            tower, weights = copy_of_run_tower(m.tower, size, weights), None
        return build_embedder(
            tower, size, m.dim, l2_normalize=m.l2_normalize, dropout=m.dropout,
            multiscale=m.multiscale, tower_weights=weights,
        )  # fmt: skip

    def build_model(self, cfg, data):
        from mmvision.models.embedder import stacked_model

        emb = self.embedder(cfg)
        return stacked_model(emb, 3) if cfg.train.mode == "offline" else emb

    def compile(self, model, cfg, steps_per_epoch=1):
        import keras

        from mmvision import losses

        t = cfg.train
        if t.mode == "offline":
            kw = {"metric": t.metric}
            if t.loss == "triplet_hinge":
                kw["margin"] = t.margin
            loss = losses.get(t.loss, **kw)
        else:
            loss = losses.get(
                t.miner, margin=t.margin, metric=t.metric, hardest_p=t.hardest_p
            )
        lr = t.learning_rate
        if t.lr_schedule == "cosine":
            steps = max(1, int(t.epochs) * int(steps_per_epoch))
            lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, steps)
        opt = keras.optimizers.get(
            {"class_name": t.optimizer, "config": {"learning_rate": lr}}
        )
        acc = losses.triplet_accuracy
        if t.mode == "online":
            acc = losses.batch_triplet_accuracy
        model.compile(optimizer=opt, loss=loss, metrics=[acc])

    # --------------------------------------------------------- evaluation
    @staticmethod
    def inference_model(model):
        """The image -> unit vector model inside a training model."""
        import keras

        from mmvision.layers.l2_normalize import L2Normalize

        if "image_0" in {t.name.split(":")[0] for t in model.inputs} or (
            isinstance(model.input, dict) and "image_0" in model.input
        ):
            model = next(
                layer for layer in model.layers if isinstance(layer, keras.Model)
            )
        if not isinstance(model.layers[-1], L2Normalize):
            out = L2Normalize(dtype="float32", name="unit_embedding")(model.output)
            model = keras.Model(model.input, out, name=model.name)
        return model

    def after_fit(self, run, model, cfg, data):
        from mmvision.training import run_dir

        emb = self.inference_model(model)
        run_dir.save_model_atomic(emb, Path(run) / run_dir.MODEL)
        return self._figures(run, emb, cfg, data)

    def _figures(self, run, emb, cfg, data, splits=("val", "test", UNSEEN)):
        """The figures of ``splits`` (``{split}_{figure}``); also writes the
        plots and ``report.html`` into ``run``."""
        from mmvision.tasks.embedder_eval import split_figures, write_report

        out, embs, rocs = {}, {}, {}
        for s in splits:
            df = data.split(s)
            if df.empty:
                continue
            seed = int(cfg.train.seed) + 1
            figs, embs[s], rocs[s] = split_figures(emb, df, cfg, seed=seed)
            out |= {f"{s}_{k}": v for k, v in figs.items()}
        if embs:
            write_report(run, data, embs, rocs, out, seed=int(cfg.train.seed))
        return out

    def evaluate(self, run, data_dir=None, split=None):
        """Re-scores every split of the run (``split`` is ignored: the
        figures of val, test and unseen are read side by side) and rewrites
        its plots and ``report.html``."""
        from mmvision.configs import from_dict
        from mmvision.configs.embedder import EmbedderConfig
        from mmvision.training import run_dir

        cfg = from_dict(EmbedderConfig, run_dir.read_config(run))
        data = self.load_data(cfg, run_dir.data_dir_of(run, data_dir), run=run)
        model = run_dir.load_model(Path(run) / run_dir.MODEL)
        return run_dir.write_metrics(run, self._figures(run, model, cfg, data))
