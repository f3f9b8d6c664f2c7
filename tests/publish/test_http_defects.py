"""HTTP preview defects, each over real sockets: viewers that leave during a long ?fps pause free their seat, health
checks get through a flood of idle connections, HEAD works, and a token-only server can be opened in a browser."""
from __future__ import annotations

import http.client
import time

import pytest

from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher


@pytest.fixture
def server(renderer):
    started: list[HttpPublisher] = []

    def start(status=None, **kw) -> HttpPublisher:
        srv = HttpPublisher(HttpOptions(port=0, **kw), renderer=renderer, status=status)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        assert srv.stop(2.0)


def request(srv, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection(*srv.address, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def open_stream(srv, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(*srv.address, timeout=5)
    conn.request("GET", path)
    return conn, conn.getresponse()


def test_viewer_leaving_during_a_long_fps_pause_frees_its_seat(server, feeder):
    srv = server(max_clients=2)
    with feeder(srv.publish, fps=30):
        deadline = time.monotonic() + 3
        while srv.sent == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        slow = [open_stream(srv, "/stream.mjpg?fps=0.0001") for _ in range(2)]
        for conn, resp in slow:
            assert resp.status == 200
            assert resp.readline().startswith(b"--")  # the first part came; now it waits 10000 s for the next
            resp.close()  # ...and the viewer leaves
            conn.close()
        deadline = time.monotonic() + 3.0
        while True:
            conn, resp = open_stream(srv, "/stream.mjpg")
            resp.close()
            conn.close()
            if resp.status == 200:
                break
            assert time.monotonic() < deadline, "the seats of departed viewers are still held (503)"
            time.sleep(0.1)
