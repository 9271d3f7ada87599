"""A watchdog that turns a collective stuck on a lost peer into an error.

A collective (the gradient all-reduce of a training step) waits for every
worker; when one has died it waits forever. TensorFlow's per-collective
``timeout_seconds`` bounds the wait, but it starts one sleeping thread per
collective op that lives for the whole timeout: a training loop issuing
hundreds of collectives a second holds tens of thousands of threads and
the process dies ("Resource temporarily unavailable") once the machine's
thread ids run out. ``CollectiveWatchdog`` bounds the wait with *one*
thread instead: the loop arms it around the code that issues collectives
(``with dog.armed(): ...``); if an armed section lasts longer than
``timeout`` seconds, the watchdog aborts the process's collectives
(``abort_collective_ops``, what TensorFlow's own peer health check does),
and the blocked op raises ``tf.errors.UnavailableError`` naming the wait.

Example:

```python
with CollectiveWatchdog(timeout=60) as dog:
    for batch in dist:
        with dog.armed("a training step"):
            train_step(batch)
```
"""

from __future__ import annotations

import contextlib
import threading
import time


class CollectiveWatchdog:
    """Aborts the collectives of this process when an armed section overruns.

    Args:
        timeout: seconds an armed section may last (every collective of a
            step waits for the slowest worker, so allow for its longest
            step, tracing included).
        poll: seconds between checks.
    """

    def __init__(self, timeout: float, poll: float = 1.0):
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        self.timeout, self.poll = float(timeout), float(poll)
        self.fired: str | None = None  # what was running when it fired
        self._since: float | None = None
        self._what = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CollectiveWatchdog:
        self._thread = threading.Thread(
            target=self._watch, name="mmvision-collective-watchdog", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.poll)

    @contextlib.contextmanager
    def armed(self, what: str = "a collective"):
        """The block may issue collectives; it must end within ``timeout``."""
        with self._lock:
            self._since, self._what = time.monotonic(), what
        try:
            yield self
        finally:
            with self._lock:
                self._since = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            with self._lock:
                since, what = self._since, self._what
            if since is not None and time.monotonic() - since > self.timeout:
                self.fired = what
                self._abort(what)
                return

    def _abort(self, what: str) -> None:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import errors

        context.context().abort_collective_ops(
            errors.UNAVAILABLE,
            f"{what} waited more than {self.timeout:.0f} s for the other workers",
        )
