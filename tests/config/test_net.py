"""Listen hosts and port clashes, checked before anything binds."""
from __future__ import annotations

import pytest

from streamer.config.net import host_problem, port_clash, zmq_endpoint, zmq_endpoint_problem
from streamer.config.schema import Override
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config
from streamer.publish.imagezmq_publisher import ImageZmqPublisherOptions
from streamer.publish.zmq_publisher import ZmqPublisherOptions
from streamer.steady.metric import MetricOptions


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


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5557", "tcp://*:5557", "tcp://localhost:*", "tcp://0.0.0.0:0",
                                      "ipc:///tmp/anchors", "ipc://@abstract"])
def test_good_zmq_endpoints(endpoint):
    assert zmq_endpoint_problem(endpoint) is None


@pytest.mark.parametrize("endpoint, words", [("localhost:5557", "expected tcp://HOST:PORT or ipc://PATH"),
                                             ("udp://127.0.0.1:5", "expected tcp://"), ("tcp://127.0.0.1", "e.g."),
                                             ("tcp://127.0.0.1:70000", "port '70000'"), ("tcp://:5557", "e.g."),
                                             ("tcp://no-such-host.invalid:5557", "host no-such-host.invalid is not an "
                                                                                 "IP address and does not resolve"),
                                             ("ipc://", "no path")])
def test_bad_zmq_endpoints(endpoint, words):
    assert words in (zmq_endpoint_problem(endpoint) or "")


def test_every_zmq_socket_is_checked_by_the_one_function():
    assert zmq_endpoint("0.0.0.0", 0) == "tcp://*:*" and zmq_endpoint("127.0.0.1", 5555) == "tcp://127.0.0.1:5555"
    for options in (ZmqPublisherOptions(host="999.1.1.1"), ImageZmqPublisherOptions(host="999.1.1.1")):
        with pytest.raises(ValueError, match=r"host = '999.1.1.1': host 999.1.1.1 is not a valid IPv4"):
            options.validate()
    with pytest.raises(ValueError, match=r"anchors_endpoint = 'tcp://127.0.0.1:99999': port '99999'"):
        MetricOptions(anchors_endpoint="tcp://127.0.0.1:99999").validate()
    MetricOptions(anchors_endpoint="tcp://127.0.0.1:0").validate()
    ZmqPublisherOptions(host="*").validate()
