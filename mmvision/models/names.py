"""Layer and input names shared by every model, defined once.

A run directory's ``model.keras`` is found again by these names: a feature
source is any model with a layer called ``IMAGE_TOWER``; classifier inputs
are ``IMAGE_INPUT`` and the ``TEXT_FIELDS`` present.
"""

IMAGE_INPUT = "image"
IMAGE_TOWER = "image_tower"
TEXT_FIELDS = ("title", "description", "tags")
