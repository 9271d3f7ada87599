"""tf.data pipelines from a Manifest (or TFRecord shards) to ``model.fit`` inputs.

Every pipeline returns a ``tf.data.Dataset`` of ``(features, target)``
tuples whose feature keys are Manifest column names: ``"image"`` float32
``[H, W, 3]`` raw ``[0, 255]`` by default, ``"title"``, ``"description"``,
``"tags"`` (joined by spaces), ``"id"``, ... Steps, in order: shard (per
worker) → shuffle → parallel decode (AUTOTUNE; robust, see
``mmvision.data.images``) → resize / crop → cache → augment → normalise →
batch → prefetch. One module per dataset kind: ``classification``,
``captions``, ``pairs``, ``triplets``; the image settings they share are an
``ImageOptions`` (``options``), the rest is in ``common``. Which rows make a
pair or a triplet is decided by ``mmvision.samplers``.

Skip-and-count: an image that cannot be read or decoded is dropped and
counted by reason in a ``PipelineStats`` (pass ``stats=`` or get it with
``dataset_stats(ds)``); with ``strict=True`` iteration raises an error whose
message names the file. Nothing in a file kills an epoch.

Caching: ``cache=True`` caches decoded, resized images in memory (a string
caches to that file prefix); shuffling then happens after the cache with
``shuffle_buffer`` elements, so epochs still differ. Without a cache the
(cheap) file list is shuffled completely before decoding.

Randomness: ``seed`` fixes the shuffle order sequence, the per-element
augmentation seeds and the pair / triplet sampling; each epoch differs
(``reshuffle_each_iteration`` / ``Dataset.random(rerandomize_each_iteration)``)
but a rerun with the same seed repeats every epoch.

Sharding: ``shard=(num_workers, index)`` or a ``tf.distribute.InputContext``
(as given to ``distribute_datasets_from_function``).
"""

from mmvision.data.pipelines.captions import (
    CAPTION_PADDING,
    caption_dataset,
    caption_sequences,
    length_buckets,
)
from mmvision.data.pipelines.classification import classification_dataset
from mmvision.data.pipelines.common import (
    FIELDS,
    LABEL_MODES,
    TEXT_KEYS,
    Source,
    dataset_stats,
)
from mmvision.data.pipelines.options import (
    AUTOTUNE,
    IMAGE_KEYWORDS,
    ImageOptions,
    resolve_image_options,
)
from mmvision.data.pipelines.pairs import pair_dataset
from mmvision.data.pipelines.triplets import triplet_dataset
from mmvision.data.skips import PipelineStats
from mmvision.samplers import ClassIndex, sample_pair_indices

#: The former private name of ``mmvision.samplers.ClassIndex``.
_ClassIndex = ClassIndex

__all__ = [
    "AUTOTUNE",
    "CAPTION_PADDING",
    "FIELDS",
    "IMAGE_KEYWORDS",
    "LABEL_MODES",
    "TEXT_KEYS",
    "ClassIndex",
    "ImageOptions",
    "PipelineStats",
    "Source",
    "caption_dataset",
    "caption_sequences",
    "classification_dataset",
    "dataset_stats",
    "length_buckets",
    "pair_dataset",
    "resolve_image_options",
    "sample_pair_indices",
    "triplet_dataset",
]
