"""``TF_CONFIG``: the cluster a multi-worker run belongs to, checked.

TensorFlow reads the ``TF_CONFIG`` environment variable (JSON) to learn the
cluster (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
"worker", "index": 0}}``). A malformed value makes TensorFlow fail deep in
its start-up with a message that does not name the variable, or hang
waiting for a peer that can never exist; ``read`` checks it first and
raises a ``ValueError`` that says what is wrong.

Example:
>>> import json
>>> spec = read(json.dumps({"cluster": {"worker": ["localhost:12345",
...     "localhost:12346"]}, "task": {"type": "worker", "index": 1}}))
>>> spec.num_workers, spec.index, spec.is_chief
(2, 1, False)
"""

from __future__ import annotations

import dataclasses
import json
import os

JOBS = ("chief", "worker", "evaluator", "ps")


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A checked ``TF_CONFIG``."""

    cluster: dict[str, list[str]]
    task_type: str
    index: int

    @property
    def num_workers(self) -> int:
        """Workers that train (``chief`` + ``worker`` tasks)."""
        return len(self.cluster.get("chief", [])) + len(self.cluster.get("worker", []))

    @property
    def is_chief(self) -> bool:
        """The ``chief`` task, or worker 0 when the cluster has no chief:
        the one that writes the run directory."""
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.index == 0


def _fail(msg: str):
    raise ValueError(f"TF_CONFIG: {msg}")


def _address(job: str, i: int, addr) -> str:
    if not isinstance(addr, str) or ":" not in addr:
        _fail(f"cluster.{job}[{i}] must be 'host:port', got {addr!r}")
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        _fail(
            f"cluster.{job}[{i}] must be 'host:port' with a port 1-65535, got {addr!r}"
        )
    return addr


def read(value: str | None = None) -> ClusterSpec | None:
    """The checked cluster of ``value`` (default: ``$TF_CONFIG``); ``None``
    when it is unset or empty (a single-process run).

    Raises:
        ValueError: not JSON, not an object, no ``cluster`` / ``task``, an
            unknown job, an address that is not ``host:port``, the same
            address twice, a ``task`` not in the cluster, or no worker.
    """
    raw = os.environ.get("TF_CONFIG", "") if value is None else value
    if not raw or not raw.strip():
        return None
    try:
        cfg = json.loads(raw)
    except ValueError as err:
        _fail(f"not valid JSON ({err}): {raw[:80]!r}")
    if not isinstance(cfg, dict):
        _fail(f"must be a JSON object, got {type(cfg).__name__}")
    cluster, task = cfg.get("cluster"), cfg.get("task")
    if not isinstance(cluster, dict) or not cluster:
        _fail('needs "cluster": {"worker": ["host:port", ...]}')
    seen: dict[str, str] = {}
    clean: dict[str, list[str]] = {}
    for job, addrs in cluster.items():
        if job not in JOBS:
            _fail(f"unknown job {job!r} in cluster; valid: {list(JOBS)}")
        if isinstance(addrs, str) or not isinstance(addrs, list) or not addrs:
            _fail(f"cluster.{job} must be a non-empty list of 'host:port'")
        clean[job] = [_address(job, i, a) for i, a in enumerate(addrs)]
        for i, a in enumerate(clean[job]):
            if a in seen:
                _fail(f"{a} is both {seen[a]} and {job}[{i}]")
            seen[a] = f"{job}[{i}]"
    if "chief" in clean and len(clean["chief"]) != 1:
        _fail("cluster.chief must hold exactly one address")
    if not isinstance(task, dict):
        _fail('needs "task": {"type": "worker", "index": 0}')
    ttype, index = task.get("type"), task.get("index", 0)
    if ttype not in clean:
        _fail(f"task.type {ttype!r} is not a job of the cluster {sorted(clean)}")
    if isinstance(index, bool) or not isinstance(index, int):
        _fail(f"task.index must be an integer, got {index!r}")
    if not 0 <= index < len(clean[ttype]):
        _fail(f"task.index {index} is out of range for {len(clean[ttype])} {ttype}(s)")
    spec = ClusterSpec(clean, ttype, index)
    if spec.num_workers < 1:
        _fail("the cluster has no chief or worker task")
    return spec


def local_cluster(n: int) -> list[str]:
    """``TF_CONFIG`` values for ``n`` workers on this machine (free loopback
    ports), one per worker process, index 0 first (the chief)."""
    import socket

    socks = [socket.socket() for _ in range(int(n))]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        addrs = [f"localhost:{s.getsockname()[1]}" for s in socks]
    finally:
        for s in socks:
            s.close()
    return [
        json.dumps(
            {"cluster": {"worker": addrs}, "task": {"type": "worker", "index": i}}
        )
        for i in range(int(n))
    ]
