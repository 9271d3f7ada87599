"""Config plumbing shared by every preset family: overrides and JSON round trips.

Configs are plain dataclasses (configs are code, as in big_vision). A user
changes one with ``--set section.field=value``; the value is parsed with the
type of the field it replaces, and an unknown key is an error that lists the
valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuilds a (nested) dataclass config from ``to_dict`` output.

    Unknown keys raise ``ValueError`` naming them (a config written by a newer
    or different tool is not silently misread).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown keys {unknown}; valid: {sorted(names)}"
        )
    kwargs = {}
    for key, value in data.items():
        typ = hints[key]
        if dataclasses.is_dataclass(typ) and isinstance(value, dict):
            kwargs[key] = from_dict(typ, value)
        elif _origin(typ) is tuple and isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _unwrap(typ: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(typ, False)``."""
    args = typing.get_args(typ)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return typ, False


def _origin(typ: Any) -> Any:
    typ, _ = _unwrap(typ)
    return typing.get_origin(typ) or typ


def _parse(text: str, typ: Any, key: str) -> Any:
    typ, optional = _unwrap(typ)
    if optional and text.lower() in ("none", "null", ""):
        return None
    base = typing.get_origin(typ) or typ
    try:
        if base is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if base in (int, float):
            return base(text)
        if base is tuple:
            items = [t.strip() for t in text.split(",") if t.strip()]
            inner = typing.get_args(typ)
            if inner and inner[0] in (int, float):
                return tuple(inner[0](t) for t in items)
            return tuple(items)
        if base is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
        return text
    except (ValueError, json.JSONDecodeError):
        raise ValueError(f"--set {key}={text}: not a valid {typ}") from None


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Returns a copy of ``cfg`` with ``"section.field=value"`` overrides applied.

    Example:
        >>> cfg = apply_overrides(cfg, ["model.text_tower=minilm", "train.epochs=3"])
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        path = key.strip().split(".")
        cfg = _set(cfg, path, text, key)
    return cfg


def _set(obj: Any, path: list[str], text: str, key: str) -> Any:
    names = [f.name for f in dataclasses.fields(obj)]
    if path[0] not in names:
        raise ValueError(f"--set {key}: unknown key {path[0]!r}; valid: {names}")
    current = getattr(obj, path[0])
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"--set {key}: {path[0]!r} has no fields")
        return dataclasses.replace(obj, **{path[0]: _set(current, path[1:], text, key)})
    if dataclasses.is_dataclass(current):
        raise ValueError(
            f"--set {key}: {path[0]!r} is a section; name one of its fields"
        )
    typ = typing.get_type_hints(type(obj))[path[0]]
    return dataclasses.replace(obj, **{path[0]: _parse(text, typ, key)})
