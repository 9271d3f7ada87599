"""Index samplers: which rows of a labelled table go together in an example.

Each sampler turns per-row class labels into a ``tf.data.Dataset`` of row
indices (drawn in-graph, stateless, reproducible from a seed); the pipelines
in ``mmvision.data.pipelines`` turn those rows into images. Samplers never
import the pipelines.
"""

from mmvision.samplers.class_index import ClassIndex, element_seed, epoch_draws
from mmvision.samplers.pairs import balanced_pairs, sample_pair_indices
from mmvision.samplers.triplets import class_triplets

#: Samplers by name, each ``(labels, n, seed=, resample=) -> Dataset of rows``.
#: A new sampler is a new module here plus one entry in this dict.
SAMPLERS = {"pairs": balanced_pairs, "triplets": class_triplets}

__all__ = [
    "SAMPLERS",
    "ClassIndex",
    "balanced_pairs",
    "class_triplets",
    "element_seed",
    "epoch_draws",
    "sample_pair_indices",
]
