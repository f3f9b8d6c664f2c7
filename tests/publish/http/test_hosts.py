"""The DNS-rebinding guard and request smuggling: a real server, real HTTP requests with the Host a browser on a
rebinding page would send (421), the names that must still work, and duplicate Content-Length / Host (400)."""
from __future__ import annotations

import socket

import pytest

from streamer.publish.http.hosts import host_allowed, host_name, own_names
from streamer.publish.http.options import HttpOptions
from tests.publish.conftest import CallableStatus
from tests.publish.conftest import http_request as request


def healthy() -> CallableStatus:
    return CallableStatus(health=lambda: (True, "ok"))


def test_a_rebinding_host_gets_421_on_every_path(server):
    srv = server(status=healthy())
    for path in ("/snapshot.jpg", "/stream.mjpg", "/stats", "/", "/healthz"):
        status, _, body = request(srv, path, headers={"Host": "evil.example.com"})
        assert status == 421, (path, status)
        assert b"'evil.example.com' does not name this server" in body and b"allowed_hosts" in body
        assert body.count(b"\n") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:1", "localhost.",
                                  "cam.localhost", "[::1]:8080"])
def test_the_listeners_own_names_are_served(server, host):
    srv = server(status=healthy())
    assert request(srv, "/healthz", headers={"Host": host})[0] == 200


def test_allowed_hosts_and_auth_open_other_names(server):
    srv = server(status=healthy(), allowed_hosts=("cam.example.lan", ".home.arpa"))
    assert request(srv, "/healthz", headers={"Host": "cam.example.lan:8080"})[0] == 200
    assert request(srv, "/healthz", headers={"Host": "kitchen.home.arpa"})[0] == 200
    assert request(srv, "/healthz", headers={"Host": "home.arpa.evil.example"})[0] == 421
    protected = server(status=healthy(), auth_token="t0k")
    assert request(protected, "/healthz", headers={"Host": "evil.example.com",
                                                   "Authorization": "Bearer t0k"})[0] == 200


def test_host_rules():
    loopback, lan, wildcard = HttpOptions(), HttpOptions(host="192.168.7.2"), HttpOptions(host="0.0.0.0")
    assert host_name("[::1]:80") == "::1" and host_name("Cam.Example.:80") == "cam.example"
    assert host_allowed(lan, "192.168.7.2:8080") and not host_allowed(lan, "10.0.0.9")
    assert host_allowed(wildcard, "10.0.0.9") and host_allowed(loopback, None)  # no Host: not a browser
    name = next(iter(own_names()))
    assert host_allowed(wildcard, name) and not host_allowed(loopback, name)  # the machine's name, when reachable


def raw(srv, head: bytes) -> bytes:
    with socket.create_connection(srv.address, timeout=5) as sock:
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("name", ["Content-Length", "Host"])
def test_a_duplicated_length_or_host_is_refused(server, name):
    srv = server(status=healthy())
    second = b"Content-Length: 5\r\n" if name == "Content-Length" else b"Host: 127.0.0.1\r\n"
    answer = raw(srv, b"POST /depth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n"
                 + second + b"\r\nabcde")
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert f"duplicate {name} header".encode() in answer
