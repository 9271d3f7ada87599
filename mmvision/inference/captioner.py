"""A trained captioner run, ready to caption: model, vocabulary, feature
tower and a compiled decoder; ``caption_images`` for image files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mmvision.data import text as text_lib
from mmvision.data.vocabulary import Vocabulary

VOCAB_FILE = "vocab.txt"


class CaptionResult(NamedTuple):
    """One image's caption, or the error that prevented it (naming the file)."""

    path: str
    caption: str | None
    error: str | None


class CaptionerRun:
    """A captioner run directory loaded for inference.

    Args:
        run_dir: a directory written by the ``captioner`` task.

    Raises:
        ValueError: missing files (named), a vocabulary whose fingerprint or
            size does not match the model, a feature tower whose weights
            changed since training.
    """

    def __init__(self, run_dir: str | os.PathLike):
        from mmvision.configs import CaptionerConfig, from_dict
        from mmvision.models import captioner as cap_lib
        from mmvision.training import run_dir as rd

        self.run_dir = Path(run_dir)
        for p in (rd.CONFIG, rd.MODEL, VOCAB_FILE, rd.INFO):
            if not (self.run_dir / p).is_file():
                raise ValueError(f"not a captioner run: {self.run_dir / p} is missing")
        self.info = rd.read_info(self.run_dir)
        self.config = from_dict(CaptionerConfig, rd.read_config(self.run_dir))
        self.vocab = Vocabulary.load(self.run_dir / VOCAB_FILE)
        expected = self.info.get("vocab_fingerprint")
        if expected is None:
            raise ValueError(f"{self.run_dir / rd.INFO}: no vocab_fingerprint")
        self.vocab.check_fingerprint(expected, what=f"the model of {self.run_dir}")
        self.model = rd.load_model(self.run_dir / rd.MODEL, compile=False)
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
            from mmvision.inference.features import (
                captioner_feature_tower,
                weights_fingerprint,
            )

            self.tower, self.image_size, self.tower_name = captioner_feature_tower(
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

    def beam_and_alpha(self, beam: int | None, alpha: float | None = None):
        d = self.config.decode
        return (
            int(d.beam if beam is None else beam),
            float(d.length_penalty if alpha is None else alpha),
        )

    def search(self, features: Any, beam: int, alpha: float):
        """Token ids and scores of features ``[B, D]`` (graph-friendly)."""
        import tensorflow as tf

        from mmvision.decoding import decode

        inf = self.inference
        return decode(
            inf.step, inf.initial_state(features), tf.shape(features)[0],
            text_lib.START_ID, text_lib.END_ID, self.max_len,
            beam_width=beam, length_penalty=alpha,
        )  # fmt: skip

    def decoder(self, beam: int | None = None, length_penalty: float | None = None):
        """A ``tf.function`` features ``[B, D]`` -> ``(ids [B, max_len], scores)``."""
        import tensorflow as tf

        key = self.beam_and_alpha(beam, length_penalty)
        if key not in self._decoders:
            dim = int(self.model.get_layer("feature_dense").kernel.shape[0])

            # The searches build their own tf.while_loop: no AutoGraph needed.
            @tf.function(
                input_signature=[tf.TensorSpec([None, dim], tf.float32)],
                autograph=False,
            )
            def run(features):
                return self.search(features, *key)

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
        from mmvision.inference.features import cached_features

        feats, _ = cached_features(
            self.config, manifest, self.tower, self.tower_name, self.image_size
        )
        return feats


def load_captioner(run_dir: str | os.PathLike) -> CaptionerRun:
    """Loads a run directory (see ``CaptionerRun``)."""
    return CaptionerRun(run_dir)


def caption_images(
    run_dir: str | os.PathLike | CaptionerRun,
    paths: Sequence[str | os.PathLike],
    beam: int | None = 3,
    batch_size: int = 32,
) -> list[CaptionResult]:
    """Captions image files with a trained run.

    Pixels come from ``data.images.file_to_pixels`` (the pipelines' own
    bytes -> pixels path). Every path gets a ``CaptionResult`` in input
    order; an image that cannot be read or decoded gets ``caption=None``
    and an ``error`` naming the file (a counted skip for batch callers).
    """
    from mmvision.data import images

    run = run_dir if isinstance(run_dir, CaptionerRun) else CaptionerRun(run_dir)
    results: list[CaptionResult | None] = [None] * len(paths)
    good: list[int] = []
    pixels: list[np.ndarray] = []
    for i, p in enumerate(paths):
        p = os.fspath(p)
        try:
            pixels.append(images.file_to_pixels(p, run.image_size))
        except images.ImageDecodeError as err:
            results[i] = CaptionResult(
                p, None, f"cannot caption {p}: {err.reason}: {err.detail}"
            )
            continue
        except Exception as err:  # noqa: BLE001  (a bad file never kills the batch)
            results[i] = CaptionResult(p, None, f"cannot caption {p}: {err}")
            continue
        good.append(i)
    for s in range(0, len(good), batch_size):
        idx = good[s : s + batch_size]
        feats = run.image_features(np.stack(pixels[s : s + batch_size]))
        for i, cap in zip(idx, run.caption_features(feats, beam=beam)):
            results[i] = CaptionResult(os.fspath(paths[i]), cap, None)
    return [r for r in results if r is not None]
