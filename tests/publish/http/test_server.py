"""HTTP preview defects, each over real sockets: viewers that leave during a long ?fps pause free their seat, health
checks get through a flood of idle connections, HEAD works, and a token-only server can be opened in a browser."""
from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import time

import pytest

from tests.publish.conftest import CallableStatus
from tests.publish.conftest import http_request as request


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


def wait_for(cond, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_seventy_idle_connections_do_not_keep_healthz_out(server):
    srv = server(status=CallableStatus(health=lambda: (True, "ok")))  # the default cap: 64 connections
    idle = [socket.create_connection(srv.address) for _ in range(70)]
    try:
        wait_for(lambda: len(srv._server.conns) == 64)
        for _ in range(3):
            t0 = time.monotonic()
            status, _, body = request(srv, "/healthz")
            assert status == 200 and body == b"ok\n" and time.monotonic() - t0 < 1.0
        assert request(srv, "/metrics")[0] == 200
        assert srv.server_stats()["evicted_idle_connections"] >= 3
    finally:
        for s in idle:
            s.close()


def test_reserved_seats_serve_health_and_metrics_only(server, feeder):
    srv = server(max_clients=2, max_connections=2)
    with feeder(srv.publish, fps=30):
        wait_for(lambda: srv.sent > 0)
        viewers = [open_stream(srv, "/stream.mjpg") for _ in range(2)]  # every connection busy
        try:
            for _, resp in viewers:
                assert resp.status == 200 and resp.readline().startswith(b"--")
            assert request(srv, "/healthz")[0] == 200
            assert request(srv, "/metrics")[0] == 200
            status, headers, _ = request(srv, "/stats")
            assert status == 503 and headers["retry-after"] == "5"
        finally:
            for conn, resp in viewers:
                resp.close()
                conn.close()


def test_head_answers_like_get_without_a_body(server, feeder):
    srv = server(status=CallableStatus(health=lambda: (True, "ok"), metrics=lambda: b"m 1\n"))
    with feeder(srv.publish, fps=30):
        wait_for(lambda: srv.sent > 0)
        for path, ctype in (("/healthz", "text/plain"), ("/stats", "application/json"), ("/", "text/html"),
                            ("/snapshot.jpg", "image/jpeg"), ("/metrics", "text/plain; version=0.0.4"),
                            ("/stream.mjpg", "multipart/x-mixed-replace")):
            status, headers, body = request(srv, path, method="HEAD")
            assert status == 200 and headers["content-type"].startswith(ctype) and body == b"", path
            if path in ("/healthz", "/", "/metrics"):  # the same body every time: the length GET would send
                assert int(headers["content-length"]) == len(request(srv, path)[2]), path
        assert request(srv, "/nothing", method="HEAD")[0] == 404
    assert srv.server_stats()["clients"] == 0  # HEAD of the stream holds no seat


def test_a_token_brought_once_becomes_a_cookie(server):
    srv = server(auth_token="tok 1;x", status=CallableStatus(health=lambda: (True, "ok")))
    status, headers, body = request(srv, "/stats")
    assert status == 401 and b"/?token=" in body  # says how a browser gets in
    status, headers, _ = request(srv, "/?view=overlay&token=tok%201%3Bx")
    assert status == 303 and headers["location"] == "/?view=overlay"  # the token leaves the address bar
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    jar = cookie.split(";")[0]
    assert request(srv, "/stats", headers={"Cookie": jar})[0] == 200
    assert request(srv, "/healthz", headers={"Cookie": "a=b; " + jar})[0] == 200
    assert request(srv, "/stats", headers={"Cookie": jar.replace("x", "y")})[0] == 401
    assert request(srv, "/?token=wrong")[0] == 401
    status, headers, _ = request(srv, "//evil.example/?token=tok%201%3Bx")
    assert status == 303 and headers["location"] == "/"  # never redirected off this host


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browse(url: str) -> str:
    """The page's DOM after its scripts ran, in a real headless browser."""
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
                           "--dump-dom", url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(BROWSER is None, reason="no headless browser installed")
@pytest.mark.parametrize("official", [False, True])
def test_the_page_in_a_browser(server, feeder, official):
    """Token-only server opened with ?token= once: the page, its stats and its stream load through the cookie; the
    snapshot link keeps the view; unofficial weights are shown on the page itself."""
    stats = {"model": {"weights_official": official, "weights_sha256": "ab" * 32}}
    srv = server(auth_token="tok-9", status=CallableStatus(stats=lambda: stats))
    with feeder(srv.publish, fps=10):
        dom = browse("http://%s:%d/?view=overlay&token=tok-9" % srv.address)
    assert '<a id="snapshot" href="snapshot.jpg?view=overlay">' in dom
    assert 'src="stream.mjpg?view=overlay"' in dom
    # /stats was fetched with the cookie: the panel shows its figures in words, the sha256 under the warning
    assert '<span id="sha">' + "ab" * 8 + "</span>" in dom, dom[-1500:]
    assert "<th>network</th><td>fp32 on ?</td>" in dom and "loading…" not in dom, dom[-1500:]
    warning = re.search(r'<div id="unofficial"( hidden="")?>', dom)
    assert warning is not None and (warning.group(1) is None) == (not official), warning
    assert srv.server_stats()["frames_served"] > 0 and srv.server_stats()["unauthorized"] == 0
