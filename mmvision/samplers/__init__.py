"""Index samplers: which rows of a labelled table go together in an example.

Each sampler turns per-row class labels into a ``tf.data.Dataset`` of row
indices (drawn in-graph, stateless, reproducible from a seed); the pipelines
in ``mmvision.data.pipelines`` turn those rows into images. Samplers never
import the pipelines.
"""

from mmvision.samplers.class_index import ClassIndex, element_seed, epoch_draws
from mmvision.samplers.pairs import balanced_pairs, sample_pair_indices
from mmvision.samplers.pk_batches import (
    PKClasses,
    pk_batches,
    pk_classes,
    pk_sampler,
)
from mmvision.samplers.triplets import class_triplets

#: Samplers by name, each ``(labels, n, seed=, resample=) -> Dataset of rows``.
#: A new sampler is a new module here plus one entry in this dict.
#: ``"pk"`` is ``pk_sampler``: ``n`` counts ``[p * k]`` batches, ``p=8, k=4``.
SAMPLERS = {
    "pairs": balanced_pairs,
    "triplets": class_triplets,
    "pk": pk_sampler,
}

__all__ = [
    "SAMPLERS",
    "ClassIndex",
    "PKClasses",
    "balanced_pairs",
    "class_triplets",
    "element_seed",
    "epoch_draws",
    "pk_batches",
    "pk_classes",
    "pk_sampler",
    "sample_pair_indices",
]
