"""HubTextEncoder: a TF Hub text SavedModel (USE, BERT) as a Keras 3 layer."""

from __future__ import annotations

import hashlib
import os
import tempfile

import keras

ALLOW_DOWNLOADS_ENV = "MMVISION_ALLOW_DOWNLOADS"

_REMOTE_PREFIXES = ("http://", "https://", "gs://", "s3://", "hdfs://")


def _tfhub_cache_dirs() -> list[str]:
    dirs = []
    if os.environ.get("TFHUB_CACHE_DIR"):
        dirs.append(os.environ["TFHUB_CACHE_DIR"])
    dirs.append(os.path.join(tempfile.gettempdir(), "tfhub_modules"))
    return dirs


def _is_saved_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(
        os.path.join(path, "saved_model.pbtxt")
    )


def resolve_hub_handle(handle: str) -> str:
    """Returns a local SavedModel directory for ``handle``, never downloading.

    A local directory (or ``file://`` path) is used as is. A remote handle
    (``https://tfhub.dev/...``, ``https://www.kaggle.com/models/...``,
    ``gs://...``) is used only if it is already in the TF Hub cache
    (``$TFHUB_CACHE_DIR`` or ``<tmp>/tfhub_modules``, keyed by the SHA-1 of
    the handle, as ``tensorflow_hub`` stores it). Otherwise a ``ValueError``
    says what to do, unless the environment variable
    ``MMVISION_ALLOW_DOWNLOADS=1`` is set, in which case the handle is
    returned unchanged for ``tensorflow_hub`` to download.

    Raises:
        FileNotFoundError: a local path that does not exist or holds no
            SavedModel.
        ValueError: a remote handle that is not cached, downloads not allowed.
    """
    handle = os.fspath(handle)
    if handle.startswith("file://"):
        handle = handle[len("file://") :]
    if not handle.startswith(_REMOTE_PREFIXES):
        path = os.path.expanduser(handle)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"TF Hub handle {handle!r}: no such directory (a local handle must "
                "be a SavedModel directory)"
            )
        if not _is_saved_model_dir(path):
            raise FileNotFoundError(
                f"TF Hub handle {handle!r}: directory has no saved_model.pb"
            )
        return path
    key = hashlib.sha1(handle.encode("utf8")).hexdigest()
    for cache in _tfhub_cache_dirs():
        cached = os.path.join(cache, key)
        if _is_saved_model_dir(cached):
            return cached
    if os.environ.get(ALLOW_DOWNLOADS_ENV, "") == "1":
        return handle
    raise ValueError(
        f"TF Hub handle {handle!r} is remote and not in the TF Hub cache "
        f"(looked for {key} in {', '.join(_tfhub_cache_dirs())}); mmvision does "
        "not download by default. Download and unpack the SavedModel and pass "
        f"its directory as the handle, or set {ALLOW_DOWNLOADS_ENV}=1 to let "
        "tensorflow_hub download it."
    )


def _load(handle: str):
    try:  # Real BERT preprocessors need the tensorflow_text ops registered.
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    import tensorflow_hub as hub

    return hub.load(resolve_hub_handle(handle))


@keras.saving.register_keras_serializable(package="mmvision")
class HubTextEncoder(keras.layers.Layer):
    """A frozen TF Hub text encoder (a TF2 SavedModel) as a Keras 3 layer.

    ``hub.KerasLayer`` does not work inside Keras 3 models, so this layer
    calls ``hub.load`` itself. It maps a batch of strings ``[B]`` to
    ``[B, D]`` float32 features:

    - Universal Sentence Encoder style: ``handle`` maps strings to ``[N, 512]``.
    - BERT style: ``preprocessor`` maps strings to the dict
      ``input_word_ids`` / ``input_mask`` / ``input_type_ids``, and ``handle``
      maps that dict to a dict of outputs, of which ``output_key`` (default
      ``"pooled_output"``, ``[N, 768]``) is returned.

    The layer is always frozen. The SavedModel's variables are not Keras
    weights: a ``.keras`` file stores only the handles (and reloads from them,
    so they must still be reachable when loading), while
    ``model.export(..., format="tf_saved_model")`` embeds the hub model.
    Remote handles are used only when cached or when downloads are allowed,
    see ``resolve_hub_handle``.

    Args:
        handle: local SavedModel directory or TF Hub URL of the encoder.
        output_key: key to pick from a dict output (``"pooled_output"`` when
            the output is a dict and no key is given).
        preprocessor: optional local directory or URL of a preprocessing
            SavedModel applied to the strings first (BERT).
        output_dim: feature width; probed by encoding one string if ``None``.

    Example:

    ```python
    text = keras.Input(shape=(), dtype="string", name="title")
    feats = HubTextEncoder("/models/universal-sentence-encoder_4")(text)
    ```
    """

    def __init__(
        self,
        handle: str,
        output_key: str | None = None,
        preprocessor: str | None = None,
        output_dim: int | None = None,
        **kwargs,
    ):
        kwargs.pop("trainable", None)
        kwargs.setdefault("dtype", "float32")
        super().__init__(trainable=False, **kwargs)
        self.handle = os.fspath(handle)
        self.output_key = output_key
        self.preprocessor = None if preprocessor is None else os.fspath(preprocessor)
        self.encoder_model = _load(self.handle)
        self.preprocessor_model = (
            None if self.preprocessor is None else _load(self.preprocessor)
        )
        if output_dim is None:
            import tensorflow as tf

            output_dim = int(self._encode(tf.constant(["probe"])).shape[-1])
        self.output_dim = int(output_dim)
        self.built = True

    def _encode(self, strings):
        import tensorflow as tf

        x = tf.convert_to_tensor(strings)
        if x.dtype != tf.string:
            raise ValueError(f"HubTextEncoder expects strings, got dtype {x.dtype}")
        if x.shape.rank == 2:  # [B, 1] -> [B]; never squeeze the batch axis.
            x = tf.squeeze(x, axis=-1)
        if self.preprocessor_model is not None:
            x = self.preprocessor_model(x)
        out = self.encoder_model(x)
        if isinstance(out, dict):
            key = self.output_key or "pooled_output"
            if key not in out:
                raise ValueError(
                    f"HubTextEncoder {self.handle!r}: output key {key!r} not in "
                    f"the model's outputs {sorted(out)}"
                )
            out = out[key]
        elif self.output_key is not None:
            raise ValueError(
                f"HubTextEncoder {self.handle!r} returns a single tensor; "
                f"output_key={self.output_key!r} cannot be used"
            )
        return tf.cast(out, "float32")

    def call(self, inputs):
        return self._encode(inputs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "handle": self.handle,
            "output_key": self.output_key,
            "preprocessor": self.preprocessor,
            "output_dim": self.output_dim,
        }
