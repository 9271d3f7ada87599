"""mmvision.models: image towers, text towers and the task models built on them.

Importing this package registers mmvision's layers with Keras, so
``keras.saving.load_model`` needs no ``custom_objects``.
"""

import mmvision.layers  # noqa: F401  (registers serializable layers)
from mmvision.models import image_towers, text_towers
from mmvision.models.multimodal_classifier import (
    build_multimodal_classifier,
    drop_modality,
    fused_embedding_model,
)

__all__ = [
    "build_multimodal_classifier",
    "drop_modality",
    "fused_embedding_model",
    "image_towers",
    "text_towers",
]
