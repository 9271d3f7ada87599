"""The suite itself must be offline: the guard in conftest.py blocks the network."""

import os
import socket
import urllib.request

import pytest
from conftest import NetworkAccessError


def test_keras_home_is_a_temp_dir():
    home = os.environ["KERAS_HOME"]
    assert "mmvision-tests-" in home
    assert not home.startswith(os.path.expanduser("~/.keras"))


def test_remote_connect_is_refused():
    with pytest.raises(NetworkAccessError):
        socket.create_connection(("93.184.216.34", 80), timeout=1)


def test_remote_resolve_is_refused():
    with pytest.raises(NetworkAccessError):
        urllib.request.urlopen("http://example.com", timeout=1)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=1)
    client.close()
    server.close()
