"""HttpPublisher over real sockets: multipart parts, endpoints, limits, auth, CORS, hostile clients, shutdown."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher


def wait_for(cond, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def get(srv, path: str, headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection(*srv.address, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class Stream:
    """A viewer: opens the stream and parses parts strictly (boundary, headers, exact Content-Length)."""

    def __init__(self, srv, path: str = "/stream.mjpg", headers: dict | None = None) -> None:
        self.conn = http.client.HTTPConnection(*srv.address, timeout=5)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        ctype = self.resp.getheader("Content-Type", "")
        self.boundary = ctype.split("boundary=")[1].encode() if "boundary=" in ctype else b""

    def part(self) -> tuple[dict[str, str], bytes]:
        line = self.resp.readline()
        if line == b"\r\n":  # the CRLF closing the previous part
            line = self.resp.readline()
        assert line == b"--" + self.boundary + b"\r\n", line
        headers = {}
        while (line := self.resp.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        body = self.resp.read(int(headers["content-length"]))
        assert len(body) == int(headers["content-length"]) and headers["content-type"] == "image/jpeg"
        return headers, body

    def frames(self, n: int) -> list[tuple[dict[str, str], np.ndarray]]:
        out = []
        for _ in range(n):
            headers, body = self.part()
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None
            out.append((headers, image))
        return out

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


def raw_request(srv, data: bytes, timeout: float = 3.0) -> bytes:
    with socket.create_connection(srv.address, timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def test_defaults_are_local_and_closed():
    o = HttpOptions()
    assert (o.host, o.port, o.cors_origins, o.auth_user, o.auth_token) == ("127.0.0.1", 8080, (), "", "")


def test_stream_parts(server, feeder):
    srv = server()
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        stream = Stream(srv)
        assert stream.status == 200 and stream.boundary
        assert stream.resp.getheader("Content-Type").startswith("multipart/x-mixed-replace; boundary=")
        parts = stream.frames(12)
        stream.close()
    seqs = [int(h["x-seq"]) for h, _ in parts]
    assert seqs == sorted(seqs) and len(set(seqs)) == 12
    assert all(image.shape == (48, 64, 3) for _, image in parts)


def test_views_fps_cap_and_bad_params(server, feeder):
    srv = server()
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        stream = Stream(srv, "/stream.mjpg?view=side_by_side&fps=5")
        t = time.monotonic()
        parts = stream.frames(4)
        elapsed = time.monotonic() - t
        stream.close()
        assert all(image.shape == (48, 128, 3) for _, image in parts)
        assert 0.5 < elapsed < 1.5  # 3 intervals of 0.2 s after the first part
        _, _, body = get(srv, "/snapshot.jpg?view=overlay")
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
        for bad in ("view=sideways", "fps=abc", "fps=0", "fps=nan", "view=depth&" + "&".join(["a=1"] * 20)):
            assert get(srv, "/stream.mjpg?" + bad)[0] == 400, bad


def test_snapshot_aliases_and_page(server, feeder):
    srv = server()
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        for path in ("/snapshot.jpg", "/?action=snapshot"):
            status, headers, body = get(srv, path)
            assert status == 200 and headers["Content-Type"] == "image/jpeg"
            assert int(headers["Content-Length"]) == len(body)
            assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
        stream = Stream(srv, "/?action=stream")
        assert stream.status == 200 and len(stream.frames(2)) == 2
        stream.close()
    status, headers, body = get(srv, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"stream.mjpg" in body and b'fetch("stats"' in body


def test_healthz(server):
    state = {"health": (True, "ok")}
    srv = server(health=lambda: state["health"])
    assert get(srv, "/healthz")[::2] == (200, b"ok\n")
    state["health"] = (False, "camera offline: /dev/video0 unplugged")
    status, _, body = get(srv, "/healthz")
    assert status == 503 and b"camera offline" in body


def test_stats_json(server, feeder):
    srv = server(stats=lambda: {"pipeline": {"fps": 12.0}})
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        stream = Stream(srv)
        stream.frames(4)  # the server counts a part once written: the 4th may still be on its way
        status, headers, body = get(srv, "/stats")
        stream.close()
    stats = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert stats["pipeline"] == {"fps": 12.0}
    server_stats = stats["http"]
    assert server_stats["clients"] == 1 and server_stats["frames_served"] >= 3 and server_stats["encodes"] >= 3


def test_only_fixed_endpoints(server):
    srv = server()
    for path in ("/index.html", "/etc/passwd", "/../../etc/passwd", "/stream.mjpg/x", "/stats.json", "/?action=x",
                 "/%2e%2e/"):
        assert get(srv, path)[0] == 404, path
    answer = raw_request(srv, b"POST /stats HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 405") and b"Allow: GET, HEAD, OPTIONS" in answer


def test_client_limit(server, feeder):
    srv = server(max_clients=2)
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        a, b = Stream(srv), Stream(srv)
        a.frames(1), b.frames(1)
        third = Stream(srv)
        assert third.status == 503
        third.close()
        a.close()  # the server notices at its next write, then a seat is free again
        wait_for(lambda: srv.server_stats()["clients"] == 1)
        c = Stream(srv)
        assert c.status == 200 and len(c.frames(1)) == 1
        b.close(), c.close()


def test_connection_limit(server, feeder):
    # Every connection busy (two streaming viewers), the reserved seats taken by sockets that say nothing: refused.
    srv = server(max_clients=2, max_connections=2)
    with feeder(srv.publish, fps=30):
        wait_for(lambda: srv.sent > 0)
        viewers = [Stream(srv), Stream(srv)]
        for viewer in viewers:
            viewer.frames(1)
        idle = [socket.create_connection(srv.address) for _ in range(4)]
        try:
            wait_for(lambda: len(srv._server.conns) == 6)
            assert raw_request(srv, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 503")
            assert srv.server_stats()["rejected_connections"] == 1
        finally:
            for s in idle:
                s.close()
            for viewer in viewers:
                viewer.close()


def test_basic_auth_and_bearer(server):
    srv = server(auth_user="ana", auth_password="s3cret", auth_token="tok-123")
    status, headers, _ = get(srv, "/stats")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")

    def basic(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert get(srv, "/stats", basic("ana", "wrong"))[0] == 401
    assert get(srv, "/stats", {"Authorization": "Basic !!notbase64"})[0] == 401
    assert get(srv, "/stats", basic("ana", "s3cret"))[0] == 200
    assert get(srv, "/healthz", {"Authorization": "Bearer tok-123"})[0] in (200, 503)
    assert get(srv, "/healthz", {"Authorization": "Bearer tok-124"})[0] == 401
    assert Stream(srv).status == 401
    with pytest.raises(ValueError, match="auth_password"):
        HttpOptions(auth_user="ana")


def test_cors_allow_list(server):
    srv = server(cors_origins=("https://dash.example",))
    _, headers, _ = get(srv, "/stats", {"Origin": "https://dash.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://dash.example"
    _, headers, _ = get(srv, "/stats", {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers
    preflight = raw_request(srv, b"OPTIONS /stats HTTP/1.0\r\nOrigin: https://dash.example\r\n\r\n")
    assert preflight.startswith(b"HTTP/1.0 204") and b"Access-Control-Allow-Headers: Authorization" in preflight
    off = server()
    _, headers, _ = get(off, "/stats", {"Origin": "https://dash.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_hostile_requests_do_not_disturb_a_viewer(server, feeder):
    srv = server(header_timeout_s=0.5)
    with feeder(srv.publish, fps=60):
        wait_for(lambda: srv.sent > 0)
        viewer = Stream(srv)
        before = int(viewer.part()[0]["x-seq"])
        answers = {
            "garbage": raw_request(srv, b"\x00\xff\xfe garbage \x01\r\n\r\n"),
            "bad version": raw_request(srv, b"GET / HTTP/9.9\r\n\r\n"),
            "long line": raw_request(srv, b"GET /" + b"a" * 5000 + b" HTTP/1.0\r\n\r\n"),
            "big headers": raw_request(srv, b"GET / HTTP/1.0\r\n" + b"X-Pad: " + b"p" * 20000 + b"\r\n\r\n"),
            "many headers": raw_request(srv, b"GET / HTTP/1.0\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"),
            "slowloris": raw_request(srv, b"GET / HTTP/1.0\r\nX-Slow: "),  # never finishes its head
        }
        expected = {"garbage": 400, "bad version": 505, "long line": 414, "big headers": 431,
                    "many headers": 431, "slowloris": 408}
        for name, answer in answers.items():
            assert answer == b"" or answer.startswith(f"HTTP/1.0 {expected[name]}".encode()), (name, answer[:40])
        after = [int(h["x-seq"]) for h, _ in viewer.frames(5)]
        viewer.close()
    assert before < after[0] and after == sorted(after)


def test_a_head_just_over_max_header_bytes_is_refused(server):
    # issue 26 H4: a 10-12 kB head used to pass the 8192-byte limit when its end arrived in the same reads
    srv = server()
    for size in (8300, 10_000, 12_000):
        pad = b"X-Pad: " + b"p" * 1990 + b"\r\n"
        end = b"X-End: " + b"e" * (size % len(pad)) + b"\r\n\r\n"
        head = b"GET /stats HTTP/1.0\r\n" + pad * (size // len(pad)) + end
        assert raw_request(srv, head).startswith(b"HTTP/1.0 431"), size
    assert raw_request(srv, b"GET /stats HTTP/1.0\r\n" + b"X-Pad: " + b"p" * 7000 + b"\r\n\r\n").startswith(
        b"HTTP/1.0 200")


def test_encode_once_per_frame_and_view(server, frames):
    srv = server()
    srv.publish(frames(0))
    wait_for(lambda: srv.sent == 1)
    a, b = Stream(srv), Stream(srv)
    for seq in range(10):
        if seq:
            srv.publish(frames(seq))
        assert int(a.part()[0]["x-seq"]) == seq
        assert int(b.part()[0]["x-seq"]) == seq
    wait_for(lambda: srv.server_stats()["frames_served"] == 20)  # counted just after each write
    a.close(), b.close()
    stats = srv.server_stats()
    assert stats["encodes_by_view"] == {"depth": 10, "side_by_side": 0, "overlay": 0}  # not 20: shared


def test_stalled_viewer_does_not_hold_up_others(server, feeder):
    srv = server(send_timeout_s=1.0)
    with feeder(srv.publish, fps=30, h=480, w=640, noise=True):  # noisy side_by_side JPEGs fill socket buffers fast
        wait_for(lambda: srv.sent > 0)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(srv.address)
        stalled.sendall(b"GET /stream.mjpg?view=side_by_side HTTP/1.0\r\n\r\n")  # ...and never reads
        viewer = Stream(srv)
        t = time.monotonic()
        seqs = [int(h["x-seq"]) for h, _ in viewer.frames(10)]
        assert time.monotonic() - t < 3.0 and seqs == sorted(seqs)
        wait_for(lambda: srv.server_stats()["clients"] == 1, timeout=6.0)  # the stalled one was dropped
        viewer.frames(2)
        viewer.close()
        stalled.close()


def test_no_signal_frames(server, feeder):
    srv = server(no_signal_after_s=0.3)
    stream = Stream(srv)  # nothing published yet
    headers, image = stream.frames(1)[0]
    assert headers["x-no-signal"] == "waiting for the first frame" and image.shape == (360, 640, 3)
    status, headers, body = get(srv, "/snapshot.jpg")
    assert status == 503 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    with feeder(srv.publish, fps=60):
        while "x-seq" not in (h := stream.part()[0]):
            pass
    t = time.monotonic()
    while "x-no-signal" not in (h := stream.part()[0]):
        pass
    assert h["x-no-signal"].startswith("no frame for") and time.monotonic() - t < 1.5
    stream.close()

    offline = {"reason": "camera offline: rtsp timeout"}
    srv2 = server(no_signal=lambda: offline["reason"])
    with feeder(srv2.publish, fps=60):
        stream = Stream(srv2)
        t = time.monotonic()
        parts = stream.frames(2)
        assert all(h["x-no-signal"] == "camera offline: rtsp timeout" for h, _ in parts)
        assert time.monotonic() - t > 0.8  # about one per second, not one per frame
        offline["reason"] = None
        while "x-seq" not in stream.part()[0]:
            pass
        stream.close()
    assert get(srv2, "/healthz")[0] == 200


def test_stop_ends_every_client_promptly(server, feeder, renderer):
    srv = HttpPublisher(HttpOptions(port=0), renderer=renderer)
    srv.start()
    with feeder(srv.publish, fps=30, h=480, w=640, noise=True):
        wait_for(lambda: srv.sent > 0)
        viewer = Stream(srv)
        viewer.frames(1)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(srv.address)
        stalled.sendall(b"GET /stream.mjpg?view=side_by_side HTTP/1.0\r\n\r\n")
        idle = socket.create_connection(srv.address)  # sent nothing: waiting in the head read
        time.sleep(0.5)  # let the stalled viewer's buffers fill so its thread is blocked in a write
        ended = threading.Event()

        def drain() -> None:
            try:
                while viewer.resp.read(65536):
                    pass
            except OSError:
                pass
            ended.set()

        threading.Thread(target=drain, daemon=True).start()
        t = time.monotonic()
        assert srv.stop(1.5)
        assert time.monotonic() - t < 1.2
        assert ended.wait(1.0)
    with pytest.raises(OSError):
        socket.create_connection(srv.address, timeout=1).close()
    for s in (stalled, idle):
        s.close()
    viewer.close()
