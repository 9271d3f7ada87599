"""Test-wide setup: an isolated KERAS_HOME, offline hubs, and a network guard.

Anything that tries to reach a host other than loopback fails the test with
``NetworkAccessError`` instead of hanging or silently downloading.
"""

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="mmvision-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["KERAS_HOME"] = os.path.join(_HOME, "keras")
os.environ["TFHUB_CACHE_DIR"] = os.path.join(_HOME, "tfhub")
os.environ["HF_HOME"] = os.path.join(_HOME, "hf")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["KAGGLE_CONFIG_DIR"] = os.path.join(_HOME, "kaggle")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


class NetworkAccessError(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        addr = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard_address(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        raise NetworkAccessError(f"tests must not reach the network: {address!r}")


def _connect(self, address):
    _guard_address(self, address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _guard_address(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        raise NetworkAccessError(f"tests must not resolve remote hosts: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo


@pytest.fixture(scope="session")
def keras_home() -> str:
    return os.environ["KERAS_HOME"]


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory):
    """A small demo world (480 images = 10 per class, 32 px, seed 3), shared."""
    from mmvision.datasets import shapes

    root = tmp_path_factory.mktemp("demo") / "world"
    shapes.generate(root, n_images=480, size=32, seed=3)
    return root
