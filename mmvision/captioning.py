"""Captioning runs: train, caption, evaluate and export a merge captioner.

The functions behind ``mmvision train captioner``, ``mmvision caption`` and
``mmvision evaluate`` (for a captioner run).

A run directory holds (DESIGN.md)::

    config.json          the CaptionerConfig + a "run" section (data_dir,
                         vocabulary fingerprint, feature source and its
                         weights fingerprint, feature width, image size)
    model.keras          the best model (lowest validation loss)
    vocab.txt            the vocabulary (checked against the fingerprint)
    history.csv          epoch, loss, val_loss, seconds
    checkpoints/         last.keras + state.json, for --resume
    metrics.json         flat floats: training figures, then BLEU-1..4,
                         ROUGE-L, CIDEr-D of beam and greedy decoding and of
                         the nearest-neighbour baseline on the eval split
    captions_<split>.jsonl   id, caption (beam), greedy, references
    learning_curve.png, captions_<split>.png

Caption scores: BLEU (nltk-style corpus BLEU, 0-1), ROUGE-L and CIDEr-D are
computed on ``mmvision.data.text.tokenize`` tokens of references and
hypotheses (lowercase, punctuation removed, one-letter words and words with
digits dropped); they are not comparable with sacrebleu or pycocoevalcap.

Features: with ``features.end_to_end`` the tower (a layer named
``"image_tower"`` inside ``model.keras``) is trained with the caption loss;
otherwise features of ``features.source`` (a run directory) or of the tower
``features.tower`` with ``features.weights`` are cached by
``mmvision.features.FeatureCache`` and the decoder trains on them. A run
refuses a feature tower whose weights fingerprint differs from the one it
was trained on.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mmvision import runs
from mmvision.configs.captioner import CaptionerConfig
from mmvision.data import text as text_lib
from mmvision.utils import write_json_atomic, write_text_atomic

BLEU_NOTE = (
    "BLEU-1..4 (nltk-style corpus BLEU, 0-1), ROUGE-L and CIDEr-D on "
    "mmvision.data.text.tokenize tokens (lowercase, no punctuation, one-letter "
    "words and words with digits dropped) of references and hypotheses"
)
CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "export"


class CaptionResult(NamedTuple):
    """One image's caption, or the error that prevented it (naming the file)."""

    path: str
    caption: str | None
    error: str | None


# ---------------------------------------------------------------------- data
def _flickr_root(data_dir: str | os.PathLike) -> Path:
    root = Path(data_dir)
    if (root / "flickr8k").is_dir():
        return root / "flickr8k"
    return root


def caption_file(data_dir: str | os.PathLike) -> Path:
    """The caption file the Flickr8k reader uses under ``data_dir``."""
    import importlib

    fl = importlib.import_module("mmvision.data.sources.flickr8k")
    root = _flickr_root(data_dir)
    for name in fl.CAPTION_FILES:
        if (root / name).exists():
            return root / name
    raise ValueError(
        f"no caption file under {root}; looked for {list(fl.CAPTION_FILES)}"
    )


def read_caption_manifest(data_dir: str | os.PathLike) -> tuple[Any, Path, Any]:
    """``(manifest, caption_file, report)`` of the Flickr8k layout in ``data_dir``.

    ``data_dir`` is a Flickr8k root or a demo world (its ``flickr8k/``).
    """
    from mmvision.data.sources import flickr8k

    root = _flickr_root(data_dir)
    manifest, report, _ = flickr8k(root, split="all")
    return manifest, caption_file(data_dir), report


def _split_rows(manifest: Any, split: str, cap_file: Path) -> Any:
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(
            f"{cap_file}: no images of the {split!r} split (check the split "
            "lists beside the caption file)"
        )
    return rows


def check_captions(
    manifest: Any, vocab: text_lib.Vocabulary, cap_file: Path, split: str
) -> int:
    """Counts captions with at least one known word; 0 is an error naming the file."""
    n_total = n_known = 0
    for caps in manifest["captions"]:
        for c in caps:
            n_total += 1
            if any(i > text_lib.END_ID for i in vocab.encode(c, add_special=False)):
                n_known += 1
    if n_total == 0:
        raise ValueError(f"{cap_file}: the {split!r} split has no captions")
    if n_known == 0:
        raise ValueError(
            f"{cap_file}: all {n_total} captions of the {split!r} split are empty "
            "or hold only words unknown to the vocabulary"
        )
    return n_known


# ------------------------------------------------------------------ run files
def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def read_history(run_dir: str | os.PathLike) -> list[dict[str, float]]:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)
        ]


# -------------------------------------------------------------- feature source
PRETRAIN_MODES = ("none", "concepts")
TOWER_DIR = "tower"


def _feature_tower(config: CaptionerConfig, run_dir: Path) -> tuple[Any, int, str]:
    from mmvision.features import load_feature_source

    f = config.features
    if f.source:
        return load_feature_source(f.source)
    if f.pretrain == "concepts":
        return load_feature_source(run_dir / TOWER_DIR)
    return load_feature_source(f.tower, f.weights, config.data.image_size)


def _check_features_config(config: CaptionerConfig) -> None:
    f = config.features
    if f.pretrain not in PRETRAIN_MODES:
        raise ValueError(
            f"unknown features.pretrain {f.pretrain!r}; valid: {list(PRETRAIN_MODES)}"
        )
    if f.pretrain != "none" and (f.source or f.end_to_end):
        raise ValueError(
            "features.pretrain trains the feature tower itself: it excludes "
            "features.source and features.end_to_end"
        )
    if (
        not (f.end_to_end or f.source or f.pretrain != "none")
        and str(f.weights).lower() == "none"
    ):
        raise ValueError(
            f"features.tower {f.tower!r} with weights=None is a random tower: its "
            "features are noise. Set features.pretrain=concepts, features.source="
            "<run directory> (a classifier or captioner run), features.weights="
            "imagenet|<file.h5>, or features.end_to_end=true"
        )


def _cached_features(
    config: CaptionerConfig, manifest: Any, tower: Any, name: str, size: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from mmvision.data.images import PipelineStats
    from mmvision.features import FeatureCache

    stats = PipelineStats()
    cache = FeatureCache(config.features.cache_dir)
    feats = cache.get(
        manifest, tower, name, size, batch_size=config.features.batch_size, stats=stats
    )
    return feats, {**cache.last_report, "skipped_reasons": dict(stats.skipped)}


# ------------------------------------------------------------------- training
class _RunCallback:
    """Checkpoints, history, best model and patience (atomic writes)."""

    def __init__(
        self, out: Path, history: list, best: float, best_epoch: int, patience: int
    ):
        import keras

        outer = self

        class CB(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.epoch_end(self.model, epoch, logs or {})

        self.callback = CB()
        self.out, self.history = out, history
        self.best, self.best_epoch, self.patience = best, best_epoch, patience
        self.t0 = time.perf_counter()

    def epoch_end(self, model: Any, epoch: int, logs: dict) -> None:
        row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.t0, 3)}
        row.update({k: float(v) for k, v in logs.items()})
        self.history.append(row)
        val = float(logs.get("val_loss", logs.get("loss", np.inf)))
        if val < self.best:
            self.best, self.best_epoch = val, epoch + 1
            runs.save_model_atomic(model, self.out / MODEL_FILE)
        runs.save_model_atomic(model, self.out / CHECKPOINT_DIR / "last.keras")
        write_json_atomic(
            self.out / CHECKPOINT_DIR / "state.json",
            {
                "epoch": epoch + 1,
                "best_val_loss": self.best,
                "best_epoch": self.best_epoch,
            },
        )
        _write_history(self.out / HISTORY_FILE, self.history)
        if self.patience and epoch + 1 - self.best_epoch >= self.patience:
            model.stop_training = True


def _datasets(config, manifest, vocab, feats, per_word):
    from mmvision.data import pipelines

    d, seed = config.data, config.train.seed
    common = dict(max_len=d.max_len, batch_size=d.batch_size, per_word=per_word)
    if feats is None:
        common.update(image_size=d.image_size, cache=True)
    else:
        common["features"] = feats
    train = pipelines.caption_dataset(
        manifest, vocab, split="train", shuffle=True, seed=seed,
        padding=d.padding, **common,
    )  # fmt: skip
    val = pipelines.caption_dataset(
        manifest, vocab, split="val", padding="batch", **common
    )
    return train, val


def train_captioner(
    config: CaptionerConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: bool = False,
    verbose: int = 2,
) -> dict[str, float]:
    """Trains a captioner on a Flickr8k layout and writes a run directory.

    Args:
        config: a ``CaptionerConfig`` (``configs.captioner.get_preset``).
        data_dir: a Flickr8k root, or a demo world (uses its ``flickr8k/``).
        out_dir: the run directory (created).
        resume: continue from ``out_dir/checkpoints/last.keras``.
        verbose: Keras ``fit`` verbosity.

    Returns:
        The run's ``metrics.json`` content (flat floats).

    Raises:
        ValueError: an existing run without ``resume``, a resume with
            another config, no captions / only unknown words (naming the
            caption file), a vocabulary that does not match the run.
    """
    import keras

    from mmvision.models import captioner as cap_lib
    from mmvision.models import image_towers

    out = Path(out_dir)
    data_dir = Path(data_dir).resolve()
    cfg_path = out / CONFIG_FILE
    state_path = out / CHECKPOINT_DIR / "state.json"
    if cfg_path.exists() and not resume:
        raise ValueError(
            f"run directory {out} already holds a run ({cfg_path}); pass "
            "resume=True (--resume) or choose another directory"
        )
    if resume and cfg_path.exists():
        stored = json.loads(cfg_path.read_text("utf-8"))
        stored.pop("run", None)
        given = config.to_dict()
        for d in (stored, given):  # what may change on resume
            for key in ("epochs", "evaluate", "patience"):
                d.get("train", {}).pop(key, None)
            d.get("data", {}).pop("image_size", None)
            d.pop("decode", None)
        if stored != given:
            raise ValueError(
                f"{cfg_path}: --resume with a different config; stored "
                f"{stored} vs given {given}"
            )
    f = config.features
    _check_features_config(config)
    keras.utils.set_random_seed(config.train.seed)

    manifest, cap_file, report = read_caption_manifest(data_dir)
    train_rows = _split_rows(manifest, "train", cap_file)
    _split_rows(manifest, "val", cap_file)
    if resume and (out / VOCAB_FILE).is_file():
        vocab = text_lib.Vocabulary.load(out / VOCAB_FILE)
    else:
        vocab = text_lib.Vocabulary.build(
            train_rows["captions"],
            min_count=config.data.min_count,
            max_size=config.data.max_vocab,
            source=str(cap_file),
        )
    check_captions(train_rows, vocab, cap_file, "train")

    run_info: dict[str, Any] = {
        "data_dir": str(data_dir),
        "caption_file": str(cap_file),
        "vocab_fingerprint": vocab.fingerprint(),
        "vocab_size": len(vocab),
        "image_size": config.data.image_size,
        "reader_skipped": dict(report.skipped),
    }
    feats = None
    if f.end_to_end:
        size = config.data.image_size
        tower = image_towers.get(
            f.tower, (size, size, 3), weights=f.weights,
            freeze_fraction=f.freeze_fraction, name=cap_lib.TOWER_LAYER,
        )  # fmt: skip
        run_info.update(feature_source="end_to_end", feature_dim=tower.output_shape[-1])
    else:
        if f.pretrain == "concepts":
            from mmvision import concepts

            run_info["tower_metrics"] = concepts.train_concept_tower(
                manifest, vocab, out / TOWER_DIR, tower=f.tower, weights=f.weights,
                image_size=config.data.image_size, epochs=f.pretrain_epochs,
                batch_size=f.pretrain_batch_size,
                learning_rate=f.pretrain_learning_rate, augment=f.pretrain_augment,
                seed=config.train.seed, verbose=verbose,
            )  # fmt: skip
        tower, size, name = _feature_tower(config, out)
        from mmvision.features import weights_fingerprint

        feats, feat_report = _cached_features(config, manifest, tower, name, size)
        run_info.update(
            feature_source=f.source or (TOWER_DIR if f.pretrain != "none" else f.tower),
            feature_name=name,
            feature_fingerprint=weights_fingerprint(tower),
            feature_dim=int(tower.output_shape[-1]),
            image_size=size,
            feature_cache=feat_report,
        )
    cfg_dict = config.to_dict()
    cfg_dict["data"]["image_size"] = run_info["image_size"]
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cfg_path, {**cfg_dict, "run": run_info})
    vocab.save(out / VOCAB_FILE)

    history = read_history(out) if resume else []
    state = (
        json.loads(state_path.read_text("utf-8"))
        if resume and state_path.is_file()
        else {}
    )
    initial_epoch = int(state.get("epoch", 0))
    if initial_epoch and (out / CHECKPOINT_DIR / "last.keras").is_file():
        model = keras.saving.load_model(out / CHECKPOINT_DIR / "last.keras")
        history = [r for r in history if r.get("epoch", 0) <= initial_epoch]
    else:
        initial_epoch = 0
        history = []
        kw = dict(
            vocab_size=len(vocab), max_len=config.data.max_len,
            embed_dim=config.model.embed_dim, units=config.model.units,
            dropout=config.model.dropout, per_word=config.train.per_word,
        )  # fmt: skip
        if f.end_to_end:
            model = cap_lib.build_captioner(image_tower=tower, **kw)
        else:
            model = cap_lib.build_captioner(feature_dim=run_info["feature_dim"], **kw)
        model.compile(
            optimizer=keras.optimizers.Adam(config.train.learning_rate, clipnorm=5.0),
            loss=cap_lib.MaskedSparseCategoricalCrossentropy(),
        )
    train_ds, val_ds = _datasets(config, manifest, vocab, feats, config.train.per_word)
    cb = _RunCallback(
        out,
        history,
        float(state.get("best_val_loss", np.inf)),
        int(state.get("best_epoch", 0)),
        config.train.patience,
    )
    t0 = time.perf_counter()
    if initial_epoch < config.train.epochs and not _patience_over(state, config):
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.train.epochs,
            initial_epoch=initial_epoch,
            callbacks=[cb.callback],
            verbose=verbose,
        )
    train_seconds = time.perf_counter() - t0
    metrics = {
        "best_val_loss": cb.best,
        "best_epoch": cb.best_epoch,
        "epochs_run": len(cb.history),
        "train_seconds": train_seconds,
    }
    runs.write_metrics(out, metrics)
    from mmvision import report_captions

    report_captions.plot_learning_curve(cb.history, out / "learning_curve.png")
    if config.train.evaluate:
        evaluate_captioner(out)
    return json.loads((out / METRICS_FILE).read_text("utf-8"))


def _patience_over(state: dict, config: CaptionerConfig) -> bool:
    p = config.train.patience
    return bool(p and state and state["epoch"] - state.get("best_epoch", 0) >= p)


# ---------------------------------------------------------------- loading a run
class CaptionerRun:
    """A trained run, ready to caption: model, vocabulary, feature tower, decoder.

    Args:
        run_dir: a directory written by ``train_captioner``.

    Raises:
        ValueError: missing files (named), a vocabulary whose fingerprint or
            size does not match the model, a feature tower whose weights
            changed since training.
    """

    def __init__(self, run_dir: str | os.PathLike):
        import keras

        import mmvision.layers  # noqa: F401
        from mmvision.models import captioner as cap_lib

        self.run_dir = Path(run_dir)
        cfg_path = self.run_dir / CONFIG_FILE
        for p in (cfg_path, self.run_dir / MODEL_FILE, self.run_dir / VOCAB_FILE):
            if not p.is_file():
                raise ValueError(f"not a captioner run: {p} is missing")
        raw = json.loads(cfg_path.read_text("utf-8"))
        self.info = raw.pop("run", {})
        self.config = CaptionerConfig.from_dict(raw)
        self.vocab = text_lib.Vocabulary.load(self.run_dir / VOCAB_FILE)
        expected = self.info.get("vocab_fingerprint")
        if expected is None:
            raise ValueError(f"{cfg_path}: no run.vocab_fingerprint")
        self.vocab.check_fingerprint(expected, what=f"the model of {self.run_dir}")
        self.model = keras.saving.load_model(self.run_dir / MODEL_FILE, compile=False)
        n_out = self.model.get_layer("logits").units
        if n_out != len(self.vocab):
            raise ValueError(
                f"{self.run_dir / VOCAB_FILE}: {len(self.vocab)} tokens but the model "
                f"predicts {n_out}"
            )
        if len(self.model.output.shape) == 2:  # a per-word model: same weights
            self.model = cap_lib.convert_captioner(self.model, per_word=False)
        self.inference = cap_lib.CaptionerInference(self.model)
        self.end_to_end = self.inference.tower is not None
        if self.end_to_end:
            self.tower = self.inference.tower
            self.image_size = int(self.tower.input_shape[1])
            self.tower_name = f"run:{self.run_dir.resolve().name}"
        else:
            from mmvision.features import weights_fingerprint

            self.tower, self.image_size, self.tower_name = _feature_tower(
                self.config, self.run_dir
            )
            fp = weights_fingerprint(self.tower)
            if fp != self.info.get("feature_fingerprint"):
                raise ValueError(
                    f"{self.run_dir}: the feature tower {self.tower_name!r} has "
                    f"weights fingerprint {fp}, but the model was trained on "
                    f"{self.info.get('feature_fingerprint')}; refusing stale features"
                )
        self.max_len = self.config.data.max_len
        self._decoders: dict[tuple[int, float], Any] = {}

    # ------------------------------------------------------------- decoding
    def decoder(self, beam: int | None = None, length_penalty: float | None = None):
        """A ``tf.function`` features ``[B, D]`` -> ``(ids [B, max_len], scores)``."""
        import tensorflow as tf

        from mmvision.decoding import beam_search, greedy_search

        beam = int(self.config.decode.beam if beam is None else beam)
        alpha = float(
            self.config.decode.length_penalty
            if length_penalty is None
            else length_penalty
        )
        key = (beam, alpha)
        if key not in self._decoders:
            inf = self.inference
            dim = int(self.model.get_layer("feature_dense").kernel.shape[0])

            # The searches build their own tf.while_loop: no AutoGraph needed
            # (it cannot re-read this nested closure's source anyway).
            @tf.function(
                input_signature=[tf.TensorSpec([None, dim], tf.float32)],
                autograph=False,
            )
            def run(features):
                state = inf.initial_state(features)
                n = tf.shape(features)[0]
                if beam == 1:
                    return greedy_search(
                        inf.step, state, n, text_lib.START_ID, text_lib.END_ID,
                        self.max_len,
                    )  # fmt: skip
                return beam_search(
                    inf.step, state, n, text_lib.START_ID, text_lib.END_ID,
                    self.max_len, beam_width=beam, length_penalty=alpha,
                )  # fmt: skip

            self._decoders[key] = run
        return self._decoders[key]

    def caption_features(
        self, features: np.ndarray, beam: int | None = None, batch_size: int = 256
    ) -> list[str]:
        """Captions of feature rows (beam 1 = greedy)."""
        run = self.decoder(beam)
        out: list[str] = []
        feats = np.asarray(features, np.float32)
        for i in range(0, len(feats), batch_size):
            ids, _ = run(feats[i : i + batch_size])
            out.extend(self.vocab.decode(r) for r in ids.numpy())
        return out

    def image_features(self, images: np.ndarray) -> np.ndarray:
        """Tower features of raw-pixel images ``[N, S, S, 3]``."""
        return np.asarray(self.tower(np.asarray(images, np.float32), training=False))

    def manifest_features(self, manifest: Any) -> dict[str, np.ndarray]:
        """Cached features of a manifest's images (skips not included)."""
        feats, _ = _cached_features(
            self.config, manifest, self.tower, self.tower_name, self.image_size
        )
        return feats


def load_captioner(run_dir: str | os.PathLike) -> CaptionerRun:
    """Loads a run directory (see ``CaptionerRun``)."""
    return CaptionerRun(run_dir)


# -------------------------------------------------------------------- caption
def _decode_file(path: str) -> Any:
    """TensorFlow decode (as the pipelines and the export), Pillow as fallback."""
    import tensorflow as tf

    from mmvision.data import images

    data = images.read_bytes(path)
    try:
        return images.decode_image(tf.constant(data))
    except (tf.errors.InvalidArgumentError, ValueError):
        return images.pil_decode(data, path)


def caption_images(
    run_dir: str | os.PathLike | CaptionerRun,
    paths: Sequence[str | os.PathLike],
    beam: int | None = 3,
    batch_size: int = 32,
) -> list[CaptionResult]:
    """Captions image files with a trained run.

    Every path gets a ``CaptionResult(path, caption, error)`` in input
    order; an image that cannot be read or decoded gets ``caption=None``
    and an ``error`` naming the file (a counted skip for batch callers),
    the others are captioned in batches.

    Args:
        run_dir: a run directory (or a loaded ``CaptionerRun``).
        paths: image files (JPEG, PNG, ...).
        beam: beam width; 1 is greedy; ``None`` uses the run's config.
    """
    from mmvision.data import images

    run = run_dir if isinstance(run_dir, CaptionerRun) else CaptionerRun(run_dir)
    size = run.image_size
    results: list[CaptionResult | None] = [None] * len(paths)
    good: list[int] = []
    pixels: list[np.ndarray] = []
    for i, p in enumerate(paths):
        p = os.fspath(p)
        try:
            img = _decode_file(p)
        except images.ImageDecodeError as err:
            results[i] = CaptionResult(
                p, None, f"cannot caption {p}: {err.reason}: {err.detail}"
            )
            continue
        except Exception as err:  # noqa: BLE001  (a bad file never kills the batch)
            results[i] = CaptionResult(p, None, f"cannot caption {p}: {err}")
            continue
        pixels.append(np.asarray(images.resize_image(img, (size, size), "none")))
        good.append(i)
    for s in range(0, len(good), batch_size):
        idx = good[s : s + batch_size]
        feats = run.image_features(np.stack(pixels[s : s + batch_size]))
        for i, cap in zip(idx, run.caption_features(feats, beam=beam)):
            results[i] = CaptionResult(os.fspath(paths[i]), cap, None)
    return [r for r in results if r is not None]


# ------------------------------------------------------------------- evaluate
def nearest_neighbour_captions(
    train_feats: np.ndarray, train_captions: Sequence[str], query_feats: np.ndarray
) -> list[str]:
    """Baseline: the caption of the closest training image (cosine similarity)."""

    def unit(x):
        x = np.asarray(x, np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    t, q = unit(train_feats), unit(query_feats)
    out = []
    for i in range(0, len(q), 1024):
        nn = np.argmax(q[i : i + 1024] @ t.T, axis=1)
        out.extend(train_captions[j] for j in nn)
    return out


def evaluate_captioner(
    run_dir: str | os.PathLike,
    split: str | None = None,
    beam: int | None = None,
    data_dir: str | os.PathLike | None = None,
    baselines: bool = True,
) -> dict[str, float]:
    """Scores a run on a split and writes metrics, captions and a grid PNG.

    Beam (``beam`` or the config's width) and greedy decoding are scored
    with BLEU-1..4, ROUGE-L and CIDEr-D (see ``BLEU_NOTE``) against the
    split's reference captions; with ``baselines`` a nearest-neighbour
    baseline (caption #0 of the closest training image by features) is
    scored too (``nn_baseline_*``). Keys: ``bleu1..bleu4, rouge_l,
    cider_d``, ``greedy_*``, ``nn_baseline_*``, ``eval_images``,
    ``eval_skipped_images``, ``decode_seconds``. Writes ``metrics.json``
    (merged), ``captions_<split>.jsonl`` and ``captions_<split>.png``.

    Raises:
        ValueError: a split without references (naming the caption file).
    """
    from mmvision import report_captions
    from mmvision.metrics import caption_metrics

    run = CaptionerRun(run_dir)
    split = split or run.config.decode.eval_split
    data_dir = data_dir or run.info.get("data_dir")
    if not data_dir:
        raise ValueError(f"{run.run_dir / CONFIG_FILE}: no run.data_dir; pass data_dir")
    manifest, cap_file, _ = read_caption_manifest(data_dir)
    rows = _split_rows(manifest, split, cap_file)
    check_captions(rows, run.vocab, cap_file, split)
    feats = run.manifest_features(rows)
    rows = rows[rows["id"].isin(set(feats))].reset_index(drop=True)
    skipped = int((manifest["split"] == split).sum() - len(rows))
    x = np.stack([feats[i] for i in rows["id"]])
    refs = [list(c) for c in rows["captions"]]
    t0 = time.perf_counter()
    beam_caps = run.caption_features(x, beam=beam)
    decode_seconds = time.perf_counter() - t0
    greedy_caps = run.caption_features(x, beam=1)
    out: dict[str, float] = {}
    out.update(caption_metrics(refs, beam_caps))
    out.update(
        {f"greedy_{k}": v for k, v in caption_metrics(refs, greedy_caps).items()}
    )
    nn_caps = None
    if baselines:
        train = manifest[manifest["split"] == "train"].reset_index(drop=True)
        tf_ = run.manifest_features(train)
        train = train[train["id"].isin(set(tf_))].reset_index(drop=True)
        nn_caps = nearest_neighbour_captions(
            np.stack([tf_[i] for i in train["id"]]),
            [str(c[0]) if len(c) else "" for c in train["captions"]],
            x,
        )
        out.update(
            {f"nn_baseline_{k}": v for k, v in caption_metrics(refs, nn_caps).items()}
        )
    out.update(
        eval_images=len(rows),
        eval_skipped_images=skipped,
        decode_seconds=decode_seconds,
        beam_width=float(beam or run.config.decode.beam),
    )
    lines = []
    for i, ident in enumerate(rows["id"]):
        rec = {"id": str(ident), "caption": beam_caps[i], "greedy": greedy_caps[i]}
        if nn_caps is not None:
            rec["nn_baseline"] = nn_caps[i]
        rec["references"] = [str(r) for r in refs[i]]
        lines.append(json.dumps(rec))
    write_text_atomic(run.run_dir / f"captions_{split}.jsonl", "\n".join(lines) + "\n")
    n = min(run.config.decode.grid_images, len(rows))
    report_captions.caption_grid(
        [
            {
                "image_path": rows["image_path"].iloc[i],
                "generated": beam_caps[i],
                "references": refs[i],
                "title": str(rows["id"].iloc[i]),
            }
            for i in range(n)
        ],
        run.run_dir / f"captions_{split}.png",
    )
    runs.write_metrics(run.run_dir, out)
    return out


# --------------------------------------------------------------------- export
def export_captioner(
    run_dir: str | os.PathLike,
    export_dir: str | os.PathLike | None = None,
    beam: int | None = None,
) -> Path:
    """Writes a SavedModel: JPEG (or PNG) bytes in, caption strings out.

    The signature ``serving_default`` takes ``image_bytes`` (string ``[N]``)
    and returns ``{"caption": string [N], "score": float32 [N]}``; decoding
    (EXIF orientation, resize), the feature tower and beam search all run in
    the graph, so TF Serving (or ``tf.saved_model.load`` in a process that
    never imported mmvision) captions images with it. Written atomically to
    ``export_dir`` (default ``RUN/export``).
    """
    import keras
    import tensorflow as tf

    from mmvision.data import images
    from mmvision.decoding import beam_search, greedy_search, ids_to_text

    run = CaptionerRun(run_dir)
    beam = int(run.config.decode.beam if beam is None else beam)
    alpha = float(run.config.decode.length_penalty)
    size = run.image_size
    inf, tower = run.inference, run.tower
    tokens = tf.constant(run.vocab.tokens, tf.string)
    max_len = run.max_len

    def serve(image_bytes):
        def one(b):
            return images.resize_image(images.decode_image(b), (size, size), "none")

        pixels = tf.map_fn(
            one,
            image_bytes,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        feats = tf.cast(tower(pixels, training=False), tf.float32)
        state = inf.initial_state(feats)
        n = tf.shape(image_bytes)[0]
        if beam == 1:
            ids, score = greedy_search(
                inf.step, state, n, text_lib.START_ID, text_lib.END_ID, max_len
            )
        else:
            ids, score = beam_search(
                inf.step, state, n, text_lib.START_ID, text_lib.END_ID, max_len,
                beam_width=beam, length_penalty=alpha,
            )  # fmt: skip
        return {"caption": ids_to_text(ids, tokens, text_lib.END_ID), "score": score}

    archive = keras.export.ExportArchive()
    archive.track(run.model)
    if not run.end_to_end:
        archive.track(tower)
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    target = Path(export_dir) if export_dir is not None else run.run_dir / EXPORT_DIR
    from mmvision.utils import atomic_path

    with atomic_path(target) as tmp:
        archive.write_out(str(tmp), verbose=False)
        shutil.copy(run.run_dir / VOCAB_FILE, Path(tmp) / VOCAB_FILE)
    return target
