"""The WebVision-style multimodal classifier: image tower + text towers, fused.

Named inputs (``"image"`` and any of ``"title"``, ``"description"``,
``"tags"``) go through their towers; each tower's output is zeroed where its
input is missing (``PresenceGate``: empty text, all-zero image), so a missing
field means the same at training and test time. Fusion is either the study's
concatenation (concat -> Dense -> Dropout -> softmax) or a late-fusion
baseline (one softmax per modality, averaged over the modalities present).
``ModalityDropout`` between the image and the text modality teaches the model
to classify when one of them is missing.

The result is a plain functional ``keras.Model``: ``compile``/``fit``/
``evaluate``/``predict`` as usual, and a ``.keras`` file reloads with no
``custom_objects``.

Example:

```python
from mmvision.models import build_multimodal_classifier

model = build_multimodal_classifier(
    num_classes=48, image_tower="small_cnn", image_size=64,
    text_fields=("title", "description"), text_tower="bow",
    adapt_texts={"title": titles, "description": descriptions},
    modality_dropout=0.4,
)
model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
model.fit(train_ds, validation_data=val_ds, epochs=5)
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from mmvision.layers.late_fusion import LateFusion
from mmvision.layers.modality_dropout import ModalityDropout
from mmvision.layers.presence_gate import ModalityPresence, PresenceGate
from mmvision.models import image_towers, text_towers
from mmvision.models.names import IMAGE_TOWER, TEXT_FIELDS

FUSIONS = ("concat", "late")
#: Layer names other code relies on (t-SNE, feature extraction, captioning).
FUSED_EMBEDDING = "fused_embedding"
OUTPUT = "class_probs"


def _text_tower_name(field: str | None) -> str:
    return "text_tower" if field is None else f"{field}_text_tower"


def build_multimodal_classifier(
    num_classes: int,
    *,
    image_tower: str | keras.Model | None = "small_cnn",
    image_size: int = 64,
    image_weights: str | None = None,
    freeze_fraction: float = 0.0,
    text_fields: Sequence[str] = TEXT_FIELDS,
    text_tower: str | None = "bow",
    text_dim: int = 128,
    text_options: Mapping[str, Any] | None = None,
    adapt_texts: Mapping[str, Iterable[str]] | None = None,
    share_text_tower: bool = False,
    fusion: str = "concat",
    modality_dropout: float = 0.0,
    text_dropout: float | None = None,
    hidden_units: int = 256,
    dropout: float = 0.3,
    seed: int | None = None,
    name: str = "multimodal_classifier",
) -> keras.Model:
    """Builds the classifier; see the module docstring.

    Args:
        num_classes: number of classes of the softmax.
        image_tower: a name of ``image_towers.NAMES``, a built tower (a
            ``keras.Model`` taking raw pixels, e.g. one trained by another
            run), or ``None`` for a text-only model.
        image_size: square input side; the ``image`` input takes raw pixels
            in ``[0, 255]``.
        image_weights: ``None``, ``"imagenet"`` or a ``.h5`` file (tower
            names only).
        freeze_fraction: fraction of the image backbone's layers frozen.
        text_fields: text inputs, any of ``title``, ``description``, ``tags``;
            empty (or ``text_tower=None``) for an image-only model.
        text_tower: a ``text_towers`` spec (``bow``, ``lstm``, ``minilm``,
            ``hub:<dir>``, ``keras_hub:<dir>``).
        text_dim: output width of each text tower.
        text_options: extra options for ``text_towers.get``.
        adapt_texts: ``{field: training texts}`` for towers that learn a
            vocabulary (``bow``, ``lstm``).
        share_text_tower: one tower (one vocabulary) for every field.
        fusion: ``"concat"`` or ``"late"``.
        modality_dropout: ``ModalityDropout`` rate between image and text.
        text_dropout: the text modality's rate if different (e.g. 0.5 with
            ``modality_dropout=0.2``: text is dropped more often than pixels).
        hidden_units: Dense width after concatenation (0 for none).
        dropout: dropout rate after that Dense.
        seed: seed of the dropout layers.
        name: model name.

    Returns:
        A functional ``keras.Model`` whose output (layer ``"class_probs"``) is
        the class probabilities ``[B, num_classes]``.
    """
    text_fields = tuple(text_fields) if text_tower else ()
    bad = [f for f in text_fields if f not in TEXT_FIELDS]
    if bad:
        raise ValueError(f"unknown text fields {bad}; valid: {list(TEXT_FIELDS)}")
    if len(set(text_fields)) != len(text_fields):
        raise ValueError(f"text fields repeat: {list(text_fields)}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; valid: {list(FUSIONS)}")
    if not image_tower and not text_fields:
        raise ValueError("the model needs an image tower or at least one text field")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")

    inputs: dict[str, keras.KerasTensor] = {}
    # Modality -> (features, presence [B, 1]).
    modalities: dict[str, tuple[Any, Any]] = {}

    if image_tower:
        image = keras.Input((image_size, image_size, 3), name="image")
        inputs["image"] = image
        tower = _image_tower(image_tower, image_size, image_weights, freeze_fraction)
        presence = ModalityPresence(name="image_present")(image)
        feats = PresenceGate(name="image_gate")([tower(image), presence])
        modalities["image"] = (feats, presence)

    if text_fields:
        adapt = dict(adapt_texts or {})
        opts = dict(text_options or {})
        towers: dict[str, keras.Model] = {}
        if share_text_tower:
            texts = _concat_texts(adapt, text_fields)
            shared = text_towers.get(
                text_tower,
                name=_text_tower_name(None),
                adapt_texts=texts,
                output_dim=text_dim,
                input_name="text",
                **opts,
            )
            towers = {f: shared for f in text_fields}
        else:
            for f in text_fields:
                towers[f] = text_towers.get(
                    text_tower,
                    name=_text_tower_name(f),
                    adapt_texts=adapt.get(f),
                    output_dim=text_dim,
                    input_name=f,
                    **opts,
                )
        parts, presences = [], []
        for f in text_fields:
            x = keras.Input((), dtype="string", name=f)
            inputs[f] = x
            presence = ModalityPresence(name=f"{f}_present")(x)
            parts.append(PresenceGate(name=f"{f}_gate")([towers[f](x), presence]))
            presences.append(presence)
        text = (
            parts[0]
            if len(parts) == 1
            else keras.layers.Concatenate(name="text_features")(parts)
        )
        any_text = (
            presences[0]
            if len(presences) == 1
            else keras.layers.Maximum(name="text_present")(presences)
        )
        modalities["text"] = (text, any_text)

    names = list(modalities)
    feats = [modalities[m][0] for m in names]
    rates = [
        text_dropout if (m == "text" and text_dropout is not None) else modality_dropout
        for m in names
    ]
    if max(rates) > 0 and len(feats) > 1:
        rate = rates if len(set(rates)) > 1 else rates[0]
        feats = ModalityDropout(rate, seed=seed, name="modality_dropout")(feats)

    if fusion == "concat":
        x = (
            feats[0]
            if len(feats) == 1
            else keras.layers.Concatenate(name="fusion")(feats)
        )
        if hidden_units:
            x = keras.layers.Dense(
                hidden_units, activation="relu", name=FUSED_EMBEDDING
            )(x)
            x = keras.layers.Dropout(dropout, seed=seed, name="fused_dropout")(x)
        else:
            x = keras.layers.Identity(name=FUSED_EMBEDDING)(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name=OUTPUT)(x)
    else:
        probs = []
        for m, f in zip(names, feats):
            h = f
            if hidden_units:
                h = keras.layers.Dense(
                    hidden_units, activation="relu", name=f"{m}_hidden"
                )(h)
                h = keras.layers.Dropout(dropout, seed=seed, name=f"{m}_dropout")(h)
            probs.append(
                keras.layers.Dense(
                    num_classes, activation="softmax", name=f"{m}_probs"
                )(h)
            )
        presence = [modalities[m][1] for m in names]
        outputs = LateFusion(name=OUTPUT)(probs + presence)
    return keras.Model(inputs, outputs, name=name)


def _image_tower(
    tower: str | keras.Model, image_size: int, weights: Any, freeze_fraction: float
) -> keras.Model:
    """``image_towers.get`` for a name; a built tower is renamed and frozen."""
    if isinstance(tower, keras.Model):
        side = tower.input_shape[1]
        if side is not None and int(side) != int(image_size):
            raise ValueError(
                f"the given image tower takes {side} px images, not {image_size} px"
            )
        tower.name = IMAGE_TOWER
        if freeze_fraction > 0:
            inner = tower.get_layer("backbone") if _has(tower, "backbone") else tower
            image_towers.freeze_layers(inner, freeze_fraction)
        return tower
    return image_towers.get(
        tower, input_shape=(image_size, image_size, 3), weights=weights,
        freeze_fraction=freeze_fraction, name=IMAGE_TOWER,
    )  # fmt: skip


def _has(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _concat_texts(adapt: Mapping[str, Iterable[str]], fields: Sequence[str]):
    if not adapt:
        return None
    out: list[str] = []
    for f in fields:
        out.extend(str(t) for t in adapt.get(f, []))
    return out


def fused_embedding_model(model: keras.Model) -> keras.Model:
    """A model from the classifier's inputs to its fused embedding.

    For ``concat`` fusion that is the Dense block after the concatenation;
    the study's t-SNE figure plots these vectors.
    """
    try:
        layer = model.get_layer(FUSED_EMBEDDING)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer {FUSED_EMBEDDING!r}; was it built "
            "by build_multimodal_classifier with concat fusion?"
        ) from None
    return keras.Model(model.inputs, layer.output, name="fused_embedding_model")


def input_fields(model: keras.Model) -> list[str]:
    """The names of a classifier's inputs (``image`` and text fields)."""
    if isinstance(model.input, dict):
        return list(model.input)
    return [t.name for t in model.inputs]


#: what ``drop_modality`` can take away: a modality or one text field.
REMOVABLE = ("image", "text", *TEXT_FIELDS)


def drop_modality(
    features: dict[str, tf.Tensor], modality: str
) -> dict[str, tf.Tensor]:
    """Features with a modality (or one text field) removed as missing data
    would be: ``"text"`` empties every text field, ``"title"`` /
    ``"description"`` / ``"tags"`` only that one, ``"image"`` zeroes the
    pixels (each then counts as missing for the model's ``PresenceGate``).
    """
    if modality not in REMOVABLE:
        raise ValueError(f"unknown modality {modality!r}; valid: {list(REMOVABLE)}")
    out = dict(features)
    if modality == "image":
        if "image" in out:
            out["image"] = tf.zeros_like(out["image"])
        return out
    for f in TEXT_FIELDS if modality == "text" else (modality,):
        if f in out:
            out[f] = tf.fill(tf.shape(out[f]), "")
    return out
