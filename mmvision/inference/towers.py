"""Image towers taken from trained run directories.

Models never open run directories: the task that needs another run's tower
loads it here and hands the built tower to the model builder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmvision.models.names import IMAGE_TOWER as TOWER_LAYER


def run_task(run: str | os.PathLike) -> str | None:
    """The ``task`` of a run's ``config.json`` (``None`` when unreadable)."""
    try:
        cfg = json.loads((Path(run) / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return cfg.get("task") if isinstance(cfg, dict) else None


def embedding_from_run(
    run: str | os.PathLike, image_size: int | None = None
) -> tuple[Any, int, str]:
    """``(model, image_size, name)`` of an embedder run: its whole saved
    image -> unit vector model, as a one-input model taking pixels [0, 255].

    Raises:
        ValueError: as ``tower_from_run``, or the run is not an embedder run.
    """
    import keras

    run = Path(run)
    if run_task(run) != "embedder":
        raise ValueError(f"{run / 'config.json'}: not an embedder run")
    model, _, size = _load_run(run, image_size)
    inputs = model.inputs
    if len(inputs) != 1:
        raise ValueError(f"{run / 'model.keras'}: an embedder has one image input")
    model = keras.Model(inputs[0], model.outputs[0], name="embedder")
    return model, size, f"embedder:{run.name}"


def tower_from_run(
    run: str | os.PathLike, image_size: int | None = None
) -> tuple[Any, int, str]:
    """``(tower, image_size, name)``: the ``image_tower`` layer of a run's model.

    Any run qualifies whose ``model.keras`` has a layer named
    ``"image_tower"`` (classifier, captioner, caption-word tagger); its
    image size comes from ``config.json`` (``data.image_size``) or the tower.

    Raises:
        ValueError: no ``model.keras``, no such layer, or another size than
            ``image_size`` (each naming the file).
    """
    run = Path(run)
    _, tower, size = _load_run(run, image_size)
    return tower, size, f"run:{run.name}"


def _load_run(run: Path, image_size: int | None) -> tuple[Any, Any, int]:
    """``(model, image_tower, image_size)`` of a run (see ``tower_from_run``)."""
    import keras

    import mmvision.layers  # noqa: F401  (registers custom layers)
    import mmvision.losses  # noqa: F401
    import mmvision.models.captioner  # noqa: F401

    model_path, config_path = run / "model.keras", run / "config.json"
    if not model_path.is_file():
        raise ValueError(f"feature source {run}: no model.keras ({model_path})")
    size = None
    if config_path.is_file():
        try:
            cfg = json.loads(config_path.read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{config_path}: cannot read JSON ({err})") from None
        size = (cfg.get("data") or {}).get("image_size")
    model = keras.saving.load_model(model_path, compile=False)
    try:
        tower = model.get_layer(TOWER_LAYER)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"{model_path}: no layer named {TOWER_LAYER!r} to take image features "
            f"from; layers: {names}"
        ) from None
    tower_size = tower.input_shape[1] if tower.input_shape[1] else None
    size = size or tower_size
    if size is None:
        raise ValueError(f"{config_path}: no data.image_size and the tower has none")
    if image_size is not None and int(image_size) != int(size):
        raise ValueError(
            f"feature source {run} was trained at {size} px, not {image_size} px"
        )
    return model, tower, int(size)


def copy_of_run_tower(name: str, image_size: int, run: str | os.PathLike) -> Any:
    """A fresh ``name`` tower at ``image_size`` px with the weights of ``run``'s.

    Raises:
        ValueError: the run's tower is another architecture or size.
    """
    from mmvision.models import image_towers

    source, _, _ = tower_from_run(Path(run), image_size)
    shape = (image_size, image_size, 3)
    tower = image_towers.get(name, input_shape=shape, weights=None, name=TOWER_LAYER)
    theirs, ours = source.get_weights(), tower.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise ValueError(
            f"image weights {run}: its image_tower is not a {name!r} tower at "
            f"{image_size} px (weight shapes differ)"
        )
    tower.set_weights(theirs)
    return tower
