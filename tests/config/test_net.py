"""Listen hosts and port clashes, checked before anything binds."""
from __future__ import annotations

import pytest

from streamer.config.net import host_problem, port_clash
from streamer.config.schema import Override
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "::", "[::1]", "localhost"])
def test_good_hosts(host):
    assert host_problem(host) is None


@pytest.mark.parametrize("host, words", [("999.1.1.1", "not a valid IPv4"), ("1.2.3", "not a valid IPv4"),
                                         ("", "empty"), ("*", "0.0.0.0"), ("no-such-host.invalid", "resolve"),
                                         ("bad host!", "neither")])
def test_bad_hosts(host, words):
    assert words in (host_problem(host) or "")


def test_star_is_zeromqs_wildcard():
    assert host_problem("*", star=True) is None


def test_port_clashes():
    assert "both 8080" in port_clash([("[http] port", "127.0.0.1", 8080), ("[zmq] port", "0.0.0.0", 8080)])
    assert port_clash([("a", "127.0.0.1", 0), ("b", "127.0.0.1", 0)]) is None  # 0 = any free port
    assert port_clash([("a", "127.0.0.1", 8080), ("b", "127.0.0.2", 8080)]) is None  # different addresses
    assert port_clash([("a", "127.0.0.1", 8080), ("b", "127.0.0.1", 8081)]) is None


def test_load_config_names_the_keys():
    with pytest.raises(ConfigError, match=r"\[http\] host = '999.1.1.1'"):
        load_config(None, [Override("http.host", "999.1.1.1", "test")])
    with pytest.raises(ConfigError, match=r"\[zmq\] port and \[imagezmq\] port are both 6000"):
        load_config(None, [Override("zmq.port", 6000, "t"), Override("imagezmq.port", 6000, "t"),
                           Override("daemon.imagezmq", True, "t")])
    load_config(None, [Override("zmq.port", 6000, "t"), Override("imagezmq.port", 6000, "t")])  # imagezmq off
