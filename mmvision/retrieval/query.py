"""A retrieval query and its results.

A query is one of: an image file (captioned by the index's captioner run and
embedded by its image source), a caption text, or the id of an item already
in the index (its stored caption and vectors; the item itself is left out of
its results).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Query:
    """Exactly one of ``image``, ``text`` or ``id``.

    Raises:
        ValueError: none or several given; an empty or blank text.
    """

    image: str | None = None
    text: str | None = None
    id: str | None = None

    def __post_init__(self):
        given = [n for n in ("image", "text", "id") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a query is exactly one of image, text or id; got {given or 'none'}"
            )
        if self.text is not None and not str(self.text).strip():
            raise ValueError("empty query text: give a caption with words in it")
        if self.image is not None:
            object.__setattr__(self, "image", os.fspath(self.image))

    @classmethod
    def of(cls, x: Any) -> Query:
        """A ``Query`` as given, or ``Query(text=x)`` for a plain string."""
        if isinstance(x, Query):
            return x
        if isinstance(x, str):
            return cls(text=x)
        raise TypeError(f"cannot query with a {type(x).__name__}; use Query(...)")


@dataclasses.dataclass(frozen=True)
class ResolvedQuery:
    """What the scorers need: the caption and vectors of a query."""

    caption: str | None
    caption_vector: np.ndarray | None
    image_vector: np.ndarray | None
    exclude: str | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    """One retrieved item.

    Attributes:
        id: the item's id; ``score`` its score under the query's method;
        caption: the caption it was indexed with; ``image_path`` its file;
        caption_score / image_score: the two cosines (``None`` when the
        index or query has no such vector).
    """

    id: str
    score: float
    caption: str
    image_path: str
    caption_score: float | None = None
    image_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SearchResult:
    """Results best first, the query's caption, and notes (e.g. ``k`` larger
    than the index, fewer items above the threshold, unknown history ids)."""

    results: list[Result]
    mode: str
    method: str
    query_caption: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "method": self.method,
            "query_caption": self.query_caption,
            "notes": list(self.notes),
            "results": [r.to_dict() for r in self.results],
        }
