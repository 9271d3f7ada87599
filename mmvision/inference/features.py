"""Feature cache: pooled image-tower features of a Manifest, computed once.

Features are stored per *tower identity*: the tower's name, the input size
and a fingerprint of the tower's weights (``weights_fingerprint``: a hash of
every weight array, so retraining, fine-tuning or loading other weights
gives another key and stale features are never served). Inside one key,
vectors are stored by image id in ``features.npz`` (``ids``, ``features``)
with a ``meta.json``; both are written atomically (temp file + rename).
Asking for ids not yet in the cache computes only those and rewrites the
file with the union.

Layout::

    CACHE_DIR/<tower>-<size>px-<fingerprint>/features.npz
                                            /meta.json

A *feature source* is a tower name (``"xception"``, with ``weights``) or a
run directory: ``RUN/model.keras`` holding a sub-model layer named
``"image_tower"`` (raw pixels [0, 255] in) and ``RUN/config.json`` with
``{"data": {"image_size": ...}}`` (classifier and captioner runs both
qualify).

Example:
>>> cache = FeatureCache("/tmp/features")  # doctest: +SKIP
>>> tower, size, name = load_feature_source("xception", weights="imagenet",
...     image_size=299)  # doctest: +SKIP
>>> feats = cache.get(manifest, tower, name, size)  # {id: float32 [2048]}
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmvision.inference.towers import tower_from_run
from mmvision.models.names import IMAGE_TOWER as TOWER_LAYER
from mmvision.utils import write_bytes_atomic, write_json_atomic


def default_cache_dir() -> Path:
    """``$MMVISION_CACHE/features``, else ``~/.cache/mmvision/features``."""
    root = os.environ.get("MMVISION_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "mmvision"
    )
    return Path(root) / "features"


def weights_fingerprint(model: Any) -> str:
    """First 16 hex digits of a SHA-256 over every weight (shape, dtype, bytes).

    Trainable and non-trainable weights (BatchNorm statistics) count, in
    layer order. Equal fingerprints mean identical weights.
    """
    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    for w in model.weights:
        arr = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
        h.update(
            f"{w.path if hasattr(w, 'path') else ''}|{arr.shape}|{arr.dtype}".encode()
        )
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def load_feature_source(
    source: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    image_size: int | None = None,
) -> tuple[Any, int, str]:
    """Resolves a feature source to ``(tower, image_size, name)``.

    Args:
        source: an image tower name (``image_towers.NAMES``) or a run
            directory (see the module docstring).
        weights: tower weights (``"imagenet"``, ``None``, a ``.h5`` path);
            tower names only.
        image_size: input side in pixels; required for a tower name, taken
            from ``config.json`` for a run directory (a different value is
            an error).

    Raises:
        ValueError: unknown tower (names listed), a run directory without
            ``model.keras`` / an ``"image_tower"`` layer / an image size.
    """
    from mmvision.models import image_towers

    src = os.fspath(source)
    if os.path.isdir(src):
        return tower_from_run(Path(src), image_size)
    if src not in image_towers.NAMES:
        raise ValueError(
            f"feature source {src!r} is neither a run directory nor an image "
            f"tower; valid towers: {', '.join(image_towers.NAMES)}"
        )
    if image_size is None:
        raise ValueError(f"image_size is needed for the image tower {src!r}")
    size = int(image_size)
    tower = image_towers.get(src, (size, size, 3), weights=weights, name=TOWER_LAYER)
    return tower, size, src


def load_vector_source(
    source: str | os.PathLike, image_size: int | None = None
) -> tuple[Any, int, str]:
    """``load_feature_source``, except that an embedder run gives its whole
    image -> unit vector model (``towers.embedding_from_run``) rather than
    its ``image_tower``: the image vectors of retrieval and of the Beam
    feature pipeline."""
    from mmvision.inference.towers import embedding_from_run, run_task

    if os.path.isdir(source) and run_task(source) == "embedder":
        return embedding_from_run(source, image_size)
    return load_feature_source(source, image_size=image_size)


def extract_features(
    manifest: Any,
    tower: Any,
    image_size: int,
    batch_size: int = 32,
    stats: Any = None,
) -> tuple[list[str], np.ndarray]:
    """Pooled features of every decodable image of ``manifest``.

    Images are decoded and resized by ``mmvision.data.pipelines`` (raw
    pixels, bilinear, no crop); undecodable images are skipped and counted
    in ``stats`` (a ``PipelineStats``).

    Returns:
        ``(ids, features)``: the ids kept, in manifest order, and float32
        ``[len(ids), D]``.
    """
    from mmvision.data import pipelines

    ds = pipelines.classification_dataset(
        manifest,
        image_size=int(image_size),
        batch_size=int(batch_size),
        fields=("image", "id"),
        label_mode="none",
        stats=stats,
        deterministic=True,
    )

    ids, out = [], []
    for batch in ds:  # eager calls: no retracing per manifest or batch shape
        out.append(np.asarray(tower(batch["image"], training=False), np.float32))
        ids.extend(x.decode("utf-8") for x in batch["id"].numpy())
    dim = int(tower.output_shape[-1])
    feats = np.concatenate(out) if out else np.zeros((0, dim), np.float32)
    return ids, feats


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "tower"


class FeatureCache:
    """Image features on disk keyed by tower, size, weights fingerprint and id.

    Args:
        root: cache directory (created on first write); default
            ``default_cache_dir()``.

    After each ``get``, ``last_report`` says ``{"key", "reused", "computed",
    "skipped"}`` (ids served from disk, ids computed now, images skipped).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.last_report: dict[str, Any] = {}

    def key(self, tower_name: str, fingerprint: str, image_size: int) -> str:
        return f"{_safe(tower_name)}-{int(image_size)}px-{fingerprint}"

    def path(self, key: str) -> Path:
        return self.root / key / "features.npz"

    def load(self, key: str) -> dict[str, np.ndarray]:
        """The stored ``{id: vector}`` of ``key`` (empty when absent)."""
        path = self.path(key)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as z:
                ids, feats = z["ids"], z["features"]
        except Exception as err:  # a damaged file is recomputed, not served
            self.last_report.setdefault("damaged", str(path))
            del err
            return {}
        return {str(i): feats[n] for n, i in enumerate(ids)}

    def _store(self, key: str, table: Mapping[str, np.ndarray], meta: dict) -> None:
        ids = np.array(sorted(table), dtype=str)
        feats = np.stack([np.asarray(table[i], np.float32) for i in ids])
        buf = io.BytesIO()
        np.savez(buf, ids=ids, features=feats)
        write_bytes_atomic(self.path(key), buf.getvalue())
        write_json_atomic(self.path(key).with_name("meta.json"), meta)

    def get(
        self,
        manifest: Any,
        tower: Any,
        tower_name: str,
        image_size: int,
        batch_size: int = 32,
        stats: Any = None,
    ) -> dict[str, np.ndarray]:
        """Features of the manifest's images, from disk where present.

        Returns:
            ``{id: float32 [D]}`` for every image that could be decoded
            (skips counted in ``stats`` and ``last_report["skipped"]``).
        """
        fingerprint = weights_fingerprint(tower)
        key = self.key(tower_name, fingerprint, image_size)
        self.last_report = {"key": key}
        table = self.load(key)
        want = [str(i) for i in manifest["id"]]
        missing = [i for i in want if i not in table]
        computed = 0
        skipped = 0
        if missing:
            sub = manifest[manifest["id"].astype(str).isin(set(missing))]
            ids, feats = extract_features(sub, tower, image_size, batch_size, stats)
            skipped = len(sub) - len(ids)
            if ids:
                table.update(zip(ids, feats))
                computed = len(ids)
                meta = {
                    "tower": tower_name,
                    "image_size": int(image_size),
                    "weights_fingerprint": fingerprint,
                    "feature_dim": int(feats.shape[1]),
                    "n_images": len(table),
                }
                self._store(key, table, meta)
        self.last_report.update(
            reused=len(want) - len(missing), computed=computed, skipped=skipped
        )
        return {i: table[i] for i in want if i in table}


PRETRAIN_MODES = ("none", "concepts")
#: where a captioner run keeps the tower it pre-trains itself.
TOWER_DIR = "tower"


def captioner_feature_tower(cfg: Any, run: str | os.PathLike) -> tuple[Any, int, str]:
    """``(tower, image_size, name)`` a captioner config caches features of:
    ``features.source``, the run's own pre-trained ``tower/``, or a tower name."""
    f = cfg.features
    if f.source:
        return load_feature_source(f.source)
    if f.pretrain == "concepts":
        return load_feature_source(Path(run) / TOWER_DIR)
    return load_feature_source(f.tower, f.weights, cfg.data.image_size)


def cached_features(
    cfg: Any, manifest: Any, tower: Any, name: str, size: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``({id: vector}, report)`` of ``manifest``'s images through ``tower``,
    from (and into) the feature cache ``cfg.features.cache_dir``."""
    from mmvision.data.images import PipelineStats

    stats = PipelineStats()
    cache = FeatureCache(cfg.features.cache_dir)
    feats = cache.get(
        manifest, tower, name, size, batch_size=cfg.features.batch_size, stats=stats
    )
    return feats, {**cache.last_report, "skipped_reasons": dict(stats.skipped)}
