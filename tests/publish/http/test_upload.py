"""POST /depth over real sockets: a photo in, its depth out (PNG at the photo's size, .npy at network resolution,
16-bit PNG), every refusal with its status and message, the upload bound, and the live stream beside uploads.

The depth comes from the real model (seed weights, ONNX Runtime, built once for the module); the bound and the
live-stream checks use a stand-in that blocks until released, so "an upload is computing" is a state, not a race.
"""
from __future__ import annotations

import http.client
import io
import socket
import threading

import cv2
import numpy as np
import pytest

from streamer.model import ModelOptions, load_depth_model
from streamer.model.photo_runner import PhotoRunner
from streamer.model.preprocess import network_size
from tests.conftest import IMAGES, SEED_WEIGHTS
from tests.publish.http.test_publisher import Stream, get, raw_request, wait_for

NET = 128  # a small network input keeps the real-model tests quick


def photo(w: int = 300, h: int = 200, ext: str = ".jpg") -> bytes:
    """A synthetic photo with structure (a lit disc on a gradient), encoded as `ext`."""
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.dstack([xx * 255 // w, yy * 255 // h, np.full((h, w), 90)]).astype(np.uint8)
    cv2.circle(image, (w // 3, h // 2), min(w, h) // 4, (250, 250, 250), -1)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # module-wide: one ONNX export per size for every test here
        mp.setenv("DEPTH_STREAMER_CACHE", str(tmp_path_factory.mktemp("upload-cache")))
        model = load_depth_model(ModelOptions(net_size=NET), str(SEED_WEIGHTS))
    return PhotoRunner(model, threads=1)


class BlockingStill:
    """A PhotoDepth that computes only when released: lets a test hold an upload in the 'computing' state."""

    net_size = NET
    max_input_side = 4 * NET

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def depth(self, bgr: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(10), "never released"
        return np.linspace(0, 1, 32 * 48, dtype=np.float32).reshape(32, 48)


def post(srv, body: bytes, query: str = "", ctype: str | None = "image/jpeg",
         headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection(*srv.address, timeout=60)
    try:
        all_headers = {"Content-Type": ctype} if ctype else {}
        conn.request("POST", "/depth" + query, body=body, headers={**all_headers, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_png_at_the_photos_size_npy_at_network_resolution_png16(server, still):
    srv = server(still)
    net_w, net_h = network_size(300, 200, NET)
    status, headers, body = post(srv, photo(300, 200))
    assert status == 200 and headers["Content-Type"] == "image/png", body[:200]
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (200, 300, 3) and image.dtype == np.uint8 and image.std() > 0  # colored, not flat
    assert headers["X-Photo-Size"] == "300x200" and headers["X-Network-Size"] == f"{net_w}x{net_h}"

    status, headers, body = post(srv, photo(300, 200, ".png"), "?format=npy", ctype="image/png")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    raw = np.load(io.BytesIO(body), allow_pickle=False)
    assert raw.dtype == np.float32 and raw.shape == (net_h, net_w) and np.isfinite(raw).all()

    status, headers, body = post(srv, photo(300, 200, ".webp"), "?format=png16", ctype="image/webp")
    assert status == 200 and headers["Content-Type"] == "image/png"
    depth16 = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
    assert depth16.dtype == np.uint16 and depth16.shape == (200, 300)
    assert depth16.min() < 2000 and depth16.max() > 60000  # the depth's minimum..maximum span the range
    assert srv.server_stats()["uploads"]["done"] == 3
    assert still._backend.exports == 0  # new sizes were exported by a child process, never in the daemon's


def test_every_photo_size_runs_on_one_export_made_by_a_child_process(still):
    """A visitor inventing aspects (10000x10, 10x10000, square) used to start one export each (~66 MB and a minute
    of CPU on a busy box, kept for good); now all of them run on one dynamic-size export, made once."""
    backend = still._backend
    before = backend.child_exports
    shapes = {}
    for h, w in ((64, 64), (8, 2000), (2000, 8), (480, 640)):
        raw = still.depth(np.random.default_rng(h).integers(0, 255, (h, w, 3), np.uint8))
        shapes[(h, w)] = raw.shape
    assert shapes == {(h, w): network_size(w, h, NET)[::-1] for h, w in shapes}  # each at its exact network size
    assert backend.child_exports - before <= 1 and backend.exports == 0  # one export at most (none if made before)
    assert backend.cache_path(0, 0).is_file()
    assert not any(backend.cache_path(*network_size(w, h, NET)[::-1]).exists() for h, w in ((8, 2000), (2000, 8)))


def test_the_dynamic_export_gives_the_fixed_size_exports_depth(still):
    """Same network, same input: the dynamic-size graph and the live stream's fixed-size graph agree to float
    rounding."""
    from streamer.model.preprocess import Preprocessor

    frame = cv2.imread(str(IMAGES["gradient_640x480"]), cv2.IMREAD_COLOR)
    x = Preprocessor(NET)(still.reduce(frame))  # what the upload path feeds the network
    fixed = still._backend.infer(x)  # the live path: a fixed-size export
    dynamic = still.depth(frame)
    assert dynamic.shape == fixed.shape
    np.testing.assert_allclose(dynamic, fixed, rtol=1e-4, atol=1e-4 * float(np.abs(fixed).max()))


def test_a_portrait_and_a_large_photo(server, still):
    srv = server(still)
    status, headers, body = post(srv, photo(180, 320, ".bmp"), ctype="image/bmp")
    assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (320, 180, 3)
    status, headers, body = post(srv, photo(2400, 1600), "?format=npy")  # decoded reduced, answered full size
    assert status == 200 and headers["X-Photo-Size"] == "2400x1600"
    assert np.load(io.BytesIO(body)).shape == network_size(2400, 1600, NET)[::-1]


def test_what_is_not_a_photo_gets_400_or_415_with_a_message(server, still):
    srv = server(still)
    for body, ctype in ((b"hello, I am text\n" * 20, "image/png"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"),
                        (b"\xff\xd8\xff" + b"\x00" * 100, "application/octet-stream")):
        status, headers, text = post(srv, body, ctype=ctype)
        assert status == 400 and b"not a decodable image" in text, (status, text)
        assert headers["Content-Type"].startswith("text/plain")
    ok, tiff = cv2.imencode(".tiff", np.zeros((20, 20, 3), np.uint8))
    status, _, text = post(srv, tiff.tobytes(), ctype="image/tiff")
    assert status == 415 and b"unsupported image format" in text
    for ctype in ("text/plain", "application/json", None):
        status, _, text = post(srv, photo(), ctype=ctype)
        assert status == 415 and b"Content-Type must be image/*" in text, (ctype, status, text)
    status, _, text = post(srv, photo(), "?format=gif")
    assert status == 400 and b"format must be one of png, png16, npy" in text
    assert srv.server_stats()["uploads"]["done"] == 0


def test_over_the_size_limit_is_413_before_the_body_is_sent(server, still):
    srv = server(still, upload_max_bytes=100_000)
    head = b"POST /depth HTTP/1.0\r\nContent-Type: image/jpeg\r\nContent-Length: 100001\r\n\r\n"
    answer = raw_request(srv, head + b"\xff\xd8\xff" * 10)  # the head and a few bytes: the rest is never sent
    assert answer.startswith(b"HTTP/1.0 413") and b"over the limit of 100000 bytes" in answer
    big = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8))[1].tobytes()
    assert len(big) > 100_000
    status, _, text = post(srv, big, ctype="image/png")  # a client that sends it all gets the answer too
    assert status == 413
    srv2 = server(still, upload_max_pixels=50_000)
    status, _, text = post(srv2, photo(300, 200))
    assert status == 413 and b"300x200 pixels is over the limit of 50000 pixels" in text


def test_length_required_and_slow_bodies_time_out(server, still):
    srv = server(still, upload_timeout_s=1.0)
    answer = raw_request(srv, b"POST /depth HTTP/1.0\r\nContent-Type: image/jpeg\r\n\r\n" + photo())
    assert answer.startswith(b"HTTP/1.0 411") and b"Content-Length required" in answer
    answer = raw_request(srv, b"POST /depth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 411")
    body = photo()
    answer = raw_request(srv, b"POST /depth HTTP/1.0\r\nContent-Type: image/jpeg\r\nContent-Length: "
                              + str(len(body)).encode() + b"\r\n\r\n" + body[:100], timeout=5.0)
    assert answer.startswith(b"HTTP/1.0 408") and b"not received in 1 s" in answer
    assert srv.server_stats()["uploads"]["active"] == 0  # the slot is free again


def test_expect_100_continue(server, still):
    srv = server(still)
    body = photo()
    with socket.create_connection(srv.address, timeout=30) as s:
        s.sendall(b"POST /depth?format=npy HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                  b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 200") and b"\r\n\r\n\x93NUMPY" in answer


def test_auth_and_cors_cover_uploads(server, still):
    srv = server(still, auth_token="s3cret", cors_origins=("https://dash.example",))
    status, headers, _ = post(srv, photo())
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    status, headers, _ = post(srv, photo(), headers={"Authorization": "Bearer s3cret", "Origin": "https://dash.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://dash.example"
    preflight = raw_request(srv, b"OPTIONS /depth HTTP/1.0\r\nOrigin: https://dash.example\r\n"
                                 b"Access-Control-Request-Method: POST\r\n\r\n")
    assert b"Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS" in preflight
    assert b"Access-Control-Allow-Headers: Authorization, Content-Type" in preflight


def test_uploads_beyond_the_bound_get_503_and_the_stream_goes_on(server, feeder):
    blocking = BlockingStill()
    srv = server(blocking, max_uploads=1)
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(post(srv, photo())[0]))
    with feeder(srv.publish, fps=30):
        wait_for(lambda: srv.sent > 0)
        viewer = Stream(srv)
        first.start()
        assert blocking.entered.wait(10)  # the first upload is computing
        status, headers, text = post(srv, photo())
        assert status == 503 and headers["Retry-After"] == "2" and b"busy" in text
        seqs = [int(h["x-seq"]) for h, _ in viewer.frames(10)]  # the live stream goes on meanwhile
        assert len(set(seqs)) == 10
        blocking.release.set()
        first.join(10)
        viewer.close()
    assert results == [200]
    stats = srv.server_stats()["uploads"]
    assert (stats["done"], stats["busy"], stats["active"], stats["limit"]) == (1, 1, 0, 1)
    assert post(srv, photo())[0] == 200  # the slot is free again


def test_uploads_off_and_the_limits_document(server, still):
    on = server(still)
    status, _, body = get(on, "/depth")
    assert status == 200 and b'"enabled": true' in body and b'"max_bytes": 20000000' in body
    for off in (server(None), server(still, max_uploads=0)):
        status, _, body = get(off, "/depth")
        assert status == 200 and b'"enabled": false' in body
        status, _, text = post(off, photo())
        assert status == 404 and b"uploads are off" in text
    assert raw_request(on, b"POST /stats HTTP/1.0\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.0 405")
