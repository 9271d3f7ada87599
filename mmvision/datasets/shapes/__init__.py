"""The embedded demo world: coloured shapes with noisy web text and captions.

A deterministic, procedurally rendered world that every test, notebook and demo
runs on. Each image has a background (plain, stripes, checker, gradient or
noise) and one to three objects (8 shapes x 6 colours, a size and a position,
possibly overlapping). The class is the *primary* (largest) object's
``colour shape``, e.g. ``"red circle"``: 48 classes.

Each image also gets WebVision-like web metadata (title, description, tags),
noisy the way web text is, five Flickr8k-style reference captions from a
grammar, and its ground-truth attributes. ``generate`` writes all of it to disk
in the real dataset layouts (WebVision 1.0, Flickr8k, Tiny ImageNet, a
class-per-folder tree with sidecar JSON, a triplet list), so the real readers
in ``mmvision.data.sources`` are exercised.

Modules (everything public is re-exported here):

- ``scene``: shapes, colours, backgrounds, classes, ``WorldConfig``, scene
  sampling and the canonical split assignment;
- ``language``: word tables, the caption grammar, web text, ``names_object``;
- ``render``: drawing a scene to an image, the contact sheet;
- ``layouts``: writing the dataset layouts, ground truth and ``world.json``;
- ``world``: ``sample_world``, ``generate``, ``summarize``, reading a world
  back and removing it.

Example:
    >>> from mmvision.datasets import shapes
    >>> summary = shapes.generate("/tmp/world", n_images=600, size=64, seed=1)
    >>> summary["classes"]
    48
"""

from mmvision.datasets.shapes.language import (
    COLOUR_WORDS,
    SHAPE_WORDS,
    captions_for,
    names_object,
    web_text,
)
from mmvision.datasets.shapes.layouts import class_folder, class_wnid
from mmvision.datasets.shapes.render import contact_sheet, render
from mmvision.datasets.shapes.scene import (
    BACKGROUND_COLOURS,
    BACKGROUNDS,
    CLASSES,
    COLOURS,
    SHAPES,
    SPLITS,
    WorldConfig,
)
from mmvision.datasets.shapes.world import (
    generate,
    load_ground_truth,
    load_world_info,
    remove,
    sample_world,
    summarize,
)

__all__ = [
    "BACKGROUNDS",
    "BACKGROUND_COLOURS",
    "CLASSES",
    "COLOURS",
    "COLOUR_WORDS",
    "SHAPES",
    "SHAPE_WORDS",
    "SPLITS",
    "WorldConfig",
    "captions_for",
    "class_folder",
    "class_wnid",
    "contact_sheet",
    "generate",
    "load_ground_truth",
    "load_world_info",
    "names_object",
    "remove",
    "render",
    "sample_world",
    "summarize",
    "web_text",
]
