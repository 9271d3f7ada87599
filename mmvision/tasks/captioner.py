"""The captioner task: a CNN-LSTM merge decoder (``models.captioner``) on a
Flickr8k layout.

Features come from one of (``features.*``): a tower trained end to end with
the caption loss from pixels; a feature source (a run directory or a tower
name with weights) whose features are cached once; or a caption-word tagger
the run pre-trains itself into ``RUN/tower`` (``pretrain="concepts"``).
A run refuses a feature tower whose weights changed since it trained.
Evaluation (``tasks.captioner_eval``): BLEU-1..4, ROUGE-L, CIDEr-D of beam
and greedy decoding and of a nearest-neighbour baseline.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from mmvision.data.vocabulary import Vocabulary
from mmvision.tasks.base import Task

VOCAB_FILE = "vocab.txt"


@dataclasses.dataclass
class CaptionData:
    """The captioned Manifest, its vocabulary and (unless end to end) features."""

    manifest: Any
    caption_file: Path
    report: Any
    vocab: Vocabulary
    features: dict | None = None
    info: dict = dataclasses.field(default_factory=dict)


def check_features_config(cfg: Any) -> None:
    """Refuses feature settings that contradict each other or give noise."""
    from mmvision.inference.features import PRETRAIN_MODES

    f = cfg.features
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


def tagger_config(cfg: Any) -> Any:
    """The caption-word tagger config of a captioner's ``features.pretrain*``."""
    from mmvision.configs import concept_tagger as ct

    f = cfg.features
    return ct.ConceptTaggerConfig(
        preset=f"{cfg.preset}/tower",
        data=ct.ConceptDataConfig(
            image_size=cfg.data.image_size, batch_size=f.pretrain_batch_size,
            augment=f.pretrain_augment, min_count=cfg.data.min_count,
            max_vocab=cfg.data.max_vocab,
        ),
        model=ct.ConceptModelConfig(tower=f.tower, weights=f.weights),
        train=ct.ConceptTrainConfig(
            epochs=f.pretrain_epochs, learning_rate=f.pretrain_learning_rate,
            seed=cfg.train.seed, verbose=cfg.train.verbose,
        ),
    )  # fmt: skip


def pretrain_tower(cfg: Any, data: CaptionData, data_dir: Any, run: Path, strategy):
    """Trains (or resumes, or reuses) the run's caption-word tagger in
    ``run/tower`` with the captioner's vocabulary; returns its metrics."""
    from mmvision import configs
    from mmvision.inference.features import TOWER_DIR
    from mmvision.tasks.concept_tagger import ConceptTaggerTask
    from mmvision.training import fit_task, run_dir

    out = run / TOWER_DIR
    tcfg = tagger_config(cfg)
    ckpt = out / run_dir.CHECKPOINTS / run_dir.LAST
    if (out / run_dir.CONFIG).is_file():
        stored = configs.config_from_dict(run_dir.read_config(out))
        if stored != tcfg:
            raise ValueError(
                f"{out / run_dir.CONFIG}: this tower run was trained with other "
                f"settings; stored {configs.to_dict(stored)}, asked "
                f"{configs.to_dict(tcfg)}"
            )
        fp = run_dir.read_info(out).get("vocab_fingerprint")
        if fp != data.vocab.fingerprint():
            raise ValueError(
                f"{out / run_dir.INFO}: this tower run was trained with another "
                f"vocabulary (fingerprint {fp}, asked {data.vocab.fingerprint()})"
            )
        if (out / run_dir.MODEL).is_file() and (out / run_dir.METRICS).is_file():
            return run_dir.read_metrics(out)
        if not ckpt.is_file():
            shutil.rmtree(out)  # stopped before its first checkpoint: start again
    tagger = ConceptTaggerTask(vocab=data.vocab)
    return fit_task(tagger, tcfg, data_dir, out, ckpt.is_file(), strategy)


class CaptionerTask(Task):
    """``train captioner``: see the module docstring."""

    name = "captioner"
    resume_keys = (
        "train.epochs",
        "train.patience",
        "train.evaluate",
        "train.verbose",
        "features.cache_dir",
        "features.batch_size",
        "decode.*",
    )

    def patience(self, cfg):
        return int(cfg.train.patience)

    def load_data(self, cfg, data_dir, run=None):
        from mmvision.data import caption_data as cd

        check_features_config(cfg)
        manifest, cap_file, report = cd.read_caption_manifest(data_dir)
        train_rows = cd.split_rows(manifest, "train", cap_file)
        cd.split_rows(manifest, "val", cap_file)
        if run is not None and (run / VOCAB_FILE).is_file():
            vocab = Vocabulary.load(run / VOCAB_FILE)
        else:
            d = cfg.data
            vocab = cd.build_vocabulary(train_rows, cap_file, d.min_count, d.max_vocab)
        cd.check_captions(train_rows, vocab, cap_file, "train")
        data = CaptionData(manifest, cap_file, report, vocab)
        data.info = {"data_dir": str(Path(data_dir).resolve())}
        return data

    def prepare(self, cfg, data, run, strategy=None):
        from mmvision.inference import features as F

        f = cfg.features
        if f.end_to_end:
            return cfg, data
        if f.pretrain == "concepts":
            data.info["tower_metrics"] = pretrain_tower(
                cfg, data, data.info["data_dir"], run, strategy
            )
        tower, size, name = F.captioner_feature_tower(cfg, run)
        data.features, report = F.cached_features(cfg, data.manifest, tower, name, size)
        source = f.source or (F.TOWER_DIR if f.pretrain != "none" else f.tower)
        data.info.update(
            feature_source=str(source),
            feature_name=name,
            feature_fingerprint=F.weights_fingerprint(tower),
            feature_dim=int(tower.output_shape[-1]),
            feature_cache=report,
        )
        if size != cfg.data.image_size:  # the source's own size is the run's
            cfg = dataclasses.replace(
                cfg, data=dataclasses.replace(cfg.data, image_size=int(size))
            )
        return cfg, data

    def run_info(self, cfg, data):
        return {
            **{k: v for k, v in data.info.items() if k != "data_dir"},
            "caption_file": str(data.caption_file),
            "vocab_fingerprint": data.vocab.fingerprint(),
            "vocab_size": len(data.vocab),
            "image_size": cfg.data.image_size,
            "reader_skipped": dict(data.report.skipped),
            **({} if data.features is not None else {"feature_source": "end_to_end"}),
        }

    def write_assets(self, cfg, data, run):
        data.vocab.save(run / VOCAB_FILE)

    def datasets(self, cfg, data):
        from mmvision.data import pipelines

        d = cfg.data
        common: dict[str, Any] = dict(
            max_len=d.max_len, batch_size=d.batch_size, per_word=cfg.train.per_word
        )
        if data.features is None:
            common.update(image_size=d.image_size, cache=True)
        else:
            common["features"] = data.features
        train = pipelines.caption_dataset(
            data.manifest, data.vocab, split="train", shuffle=True,
            seed=cfg.train.seed, padding=d.padding, **common,
        )  # fmt: skip
        val = pipelines.caption_dataset(
            data.manifest, data.vocab, split="val", padding="batch", **common
        )
        return train, val

    def build_model(self, cfg, data):
        from mmvision.models import captioner as cap_lib
        from mmvision.models import image_towers

        f, d = cfg.features, cfg.data
        kw = dict(
            vocab_size=len(data.vocab), max_len=d.max_len,
            embed_dim=cfg.model.embed_dim, units=cfg.model.units,
            dropout=cfg.model.dropout, per_word=cfg.train.per_word,
        )  # fmt: skip
        if data.features is None:
            tower = image_towers.get(
                f.tower, (d.image_size, d.image_size, 3), weights=f.weights,
                freeze_fraction=f.freeze_fraction, name=cap_lib.TOWER_LAYER,
            )  # fmt: skip
            return cap_lib.build_captioner(image_tower=tower, **kw)
        return cap_lib.build_captioner(feature_dim=data.info["feature_dim"], **kw)

    def compile(self, model, cfg, steps_per_epoch=1):
        import keras

        from mmvision.models import captioner as cap_lib

        model.compile(
            optimizer=keras.optimizers.Adam(cfg.train.learning_rate, clipnorm=5.0),
            loss=cap_lib.MaskedSparseCategoricalCrossentropy(),
            metrics=[cap_lib.MaskedNextWordAccuracy(name="accuracy")],
        )

    def after_fit(self, run, model, cfg, data):
        if not cfg.train.evaluate:
            return {}
        return self.evaluate(run)

    def evaluate(self, run, data_dir=None, split=None):
        from mmvision.tasks.captioner_eval import evaluate_captioner

        return evaluate_captioner(run, split=split, data_dir=data_dir)
