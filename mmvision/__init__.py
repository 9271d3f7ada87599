"""mmvision: a Keras 3 / TensorFlow toolkit for images that come with text.

Multimodal (image + web text) classification, CNN-LSTM captioning, and
caption-similarity retrieval, fed by tf.data pipelines from the real dataset
formats. Importing the package is cheap: TensorFlow is imported only by the
modules that need it.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

__all__ = ["__version__"]
