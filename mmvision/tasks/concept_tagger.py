"""The caption-word tagger task: an image tower trained on the words of its
images' captions (``models.concept_tagger``).

Its run directory is a feature source for the captioner (a ``model.keras``
with an ``image_tower`` layer); the captioner trains one into ``RUN/tower``
with its own vocabulary when ``features.pretrain="concepts"``. Figures:
val/test word mAP.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.data.vocabulary import Vocabulary
from mmvision.tasks.base import Task

VOCAB_FILE = "vocab.txt"


@dataclasses.dataclass
class ConceptData:
    """A captioned Manifest's splits, the vocabulary and the word targets."""

    splits: dict[str, Any]
    targets: dict[str, np.ndarray]
    vocab: Vocabulary
    caption_file: Any
    stats: Any


class ConceptTaggerTask(Task):
    """``train concept_tagger``; ``vocab`` fixes the words (the captioner's)."""

    name = "concept_tagger"

    def __init__(self, vocab: Vocabulary | None = None):
        self.vocab = vocab

    def load_data(self, cfg, data_dir, run=None):
        from mmvision.data import caption_data as cd
        from mmvision.data.images import PipelineStats

        manifest, cap_file, _ = cd.read_caption_manifest(data_dir)
        splits = {
            s: manifest[manifest["split"] == s].reset_index(drop=True)
            for s in ("train", "val", "test")
        }
        for s in ("train", "val"):
            cd.split_rows(manifest, s, cap_file)
        vocab = self.vocab
        if vocab is None and run is not None and (run / VOCAB_FILE).is_file():
            vocab = Vocabulary.load(run / VOCAB_FILE)
        if vocab is None:
            d = cfg.data
            vocab = cd.build_vocabulary(
                splits["train"], cap_file, d.min_count, d.max_vocab
            )
        from mmvision.models.concept_tagger import word_targets

        targets = {s: word_targets(df["captions"], vocab) for s, df in splits.items()}
        return ConceptData(splits, targets, vocab, cap_file, PipelineStats())

    def run_info(self, cfg, data):
        return {
            "caption_file": str(data.caption_file),
            "vocab_fingerprint": data.vocab.fingerprint(),
            "vocab_size": len(data.vocab),
        }

    def write_assets(self, cfg, data, run):
        data.vocab.save(run / VOCAB_FILE)

    def _dataset(self, cfg, data, split, training):
        from mmvision.models.concept_tagger import concept_dataset

        d = cfg.data
        return concept_dataset(
            data.splits[split], data.targets[split], d.image_size,
            d.batch_size if training else d.eval_batch_size, training,
            augment=d.augment, seed=cfg.train.seed, stats=data.stats,
        )  # fmt: skip

    def datasets(self, cfg, data):
        return (
            self._dataset(cfg, data, "train", True),
            self._dataset(cfg, data, "val", False),
        )

    def steps_per_epoch(self, cfg, data, train_ds):
        from mmvision.training.run_dir import optimizer_steps_per_epoch

        n = len(data.splits["train"])
        return optimizer_steps_per_epoch(train_ds, n, cfg.data.batch_size)

    def build_model(self, cfg, data):
        from mmvision.models import image_towers
        from mmvision.models.concept_tagger import build_concept_model

        size = int(cfg.data.image_size)
        m = cfg.model
        net = image_towers.get(m.tower, (size, size, 3), weights=m.weights)
        return build_concept_model(
            net, len(data.vocab), dropout=m.dropout, seed=cfg.train.seed
        )

    def compile(self, model, cfg, steps_per_epoch=1):
        import keras

        lr = self.schedule(cfg, steps_per_epoch)
        model.compile(keras.optimizers.Adam(lr), loss="binary_crossentropy")

    def schedule(self, cfg, steps_per_epoch=1):
        import keras

        steps = max(1, int(cfg.train.epochs) * int(steps_per_epoch))
        return keras.optimizers.schedules.CosineDecay(cfg.train.learning_rate, steps)

    def after_fit(self, run, model, cfg, data):
        return self._word_maps(model, cfg, data) | {
            "skipped_images": int(sum(data.stats.skipped.values()))
        }

    def _word_maps(self, model, cfg, data) -> dict[str, Any]:
        from mmvision.models.concept_tagger import word_map

        out: dict[str, Any] = {}
        for s in ("val", "test"):
            if data.splits[s].empty:
                continue
            y_true, y_pred = [], []
            for x, y in self._dataset(cfg, data, s, False):
                y_pred.append(np.asarray(model(x, training=False)))
                y_true.append(y.numpy())
            out[f"{s}_word_map"] = word_map(
                np.concatenate(y_true), np.concatenate(y_pred)
            )
        return out

    def evaluate(self, run, data_dir=None, split=None):
        from mmvision.configs import ConceptTaggerConfig, from_dict
        from mmvision.training import run_dir

        cfg = from_dict(ConceptTaggerConfig, run_dir.read_config(run))
        data = self.load_data(cfg, run_dir.data_dir_of(run, data_dir), run=run)
        model = run_dir.load_model(Path(run) / run_dir.MODEL)
        return run_dir.write_metrics(run, self._word_maps(model, cfg, data))
