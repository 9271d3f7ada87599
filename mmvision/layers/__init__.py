"""mmvision.layers: reusable Keras 3 layers, one class per file.

Importing this package registers every layer with Keras
(``package="mmvision"``), so ``keras.saving.load_model`` needs no
``custom_objects``.
"""

from mmvision.layers.hub_text_encoder import HubTextEncoder, resolve_hub_handle
from mmvision.layers.image_preprocessing import ImagePreprocessing
from mmvision.layers.keras_hub_text_encoder import KerasHubTextEncoder
from mmvision.layers.l2_normalize import L2Normalize
from mmvision.layers.late_fusion import LateFusion
from mmvision.layers.modality_dropout import ModalityDropout
from mmvision.layers.presence_gate import ModalityPresence, PresenceGate
from mmvision.layers.projection_head import ProjectionHead

__all__ = [
    "HubTextEncoder",
    "ImagePreprocessing",
    "KerasHubTextEncoder",
    "L2Normalize",
    "LateFusion",
    "ModalityDropout",
    "ModalityPresence",
    "PresenceGate",
    "ProjectionHead",
    "resolve_hub_handle",
]
