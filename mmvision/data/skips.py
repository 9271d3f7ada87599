"""One skip counter: what a reader or a pipeline dropped, counted by reason.

``SkipCounter`` is shared by the dataset readers (``ReadReport``, in
``mmvision.data.sources``) and the ``tf.data`` pipelines (``PipelineStats``):
both count every dropped item by reason (``missing_file``, ``decode_error``,
``unlabelled``, ...) and keep the first few places as examples.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any, ClassVar


@dataclasses.dataclass
class SkipCounter:
    """Dropped items counted by reason, with the first few places as examples.

    Thread-safe (the pipelines count from ``tf.data`` worker threads);
    copyable and picklable (the lock is not part of the state).

    Attributes:
        skipped: ``{reason: count}``.
        examples: ``{reason: ["place: detail", ...]}`` (first few).
        max_examples: how many examples are kept per reason.
    """

    skipped: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    examples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    max_examples: int = 5
    #: Keep an example only once (a file read every epoch is listed once).
    unique_examples: ClassVar[bool] = False

    def __post_init__(self):
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def skip(self, reason: str, where: str) -> None:
        """Counts one dropped item and keeps ``where`` among the first examples."""
        with self._lock:
            self.skipped[reason] += 1
            self._add_example(reason, where)

    def add_example(self, kind: str, where: str) -> None:
        """Keeps ``where`` as an example of ``kind`` without counting a skip."""
        with self._lock:
            self._add_example(kind, where)

    def _add_example(self, kind: str, where: str) -> None:
        ex = self.examples.setdefault(kind, [])
        if len(ex) < self.max_examples and not (self.unique_examples and where in ex):
            ex.append(where)

    def count(self, reason: str) -> int:
        """How many items were dropped for ``reason`` (0 when none)."""
        return int(self.skipped.get(reason, 0))

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def reset(self) -> None:
        """Forgets every count and example."""
        with self._lock:
            self.skipped.clear()
            self.examples.clear()

    def snapshot(self) -> tuple[collections.Counter, dict[str, list[str]]]:
        """Copies of ``(skipped, examples)``, to put back with ``restore``."""
        with self._lock:
            return self.skipped.copy(), {k: list(v) for k, v in self.examples.items()}

    def restore(self, state: tuple[collections.Counter, dict[str, list[str]]]) -> None:
        """Puts back counts and examples taken by ``snapshot``."""
        with self._lock:
            skipped, examples = state
            self.skipped = skipped.copy()
            self.examples = {k: list(v) for k, v in examples.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "skipped": dict(self.skipped),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }


@dataclasses.dataclass
class PipelineStats(SkipCounter):
    """What a pipeline dropped, and the normalisation statistics it used.

    Skip-and-count for ``tf.data``: every image a pipeline drops is counted
    by reason (``missing_file``, ``read_error``, ``decode_error``,
    ``too_small``, ``unlabelled``, ...) with the first few file names. The
    counts are updated from the decode fallback while the dataset is being
    iterated and accumulate over epochs (a bad file is counted once per
    epoch it is read, unless the dataset is cached); call ``reset()``
    between epochs to count one epoch. Thread-safe.

    Attributes:
        skipped: ``{reason: count}``.
        examples: ``{reason: ["path: detail", ...]}`` (first few, no repeats).
        mean, std: per-channel statistics used by
            ``normalization="standardize"`` (raw [0,255] scale), else None.
    """

    mean: list[float] | None = None
    std: list[float] | None = None
    unique_examples: ClassVar[bool] = True

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "mean": self.mean, "std": self.std}


#: Another name of the pipelines' counter of dropped images.
DropCounter = PipelineStats
