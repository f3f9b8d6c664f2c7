"""ZmqPublisher against real SUB sockets: topics, complete versioned headers, array roundtrip, heartbeat, stalls."""
from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
import zmq

from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions
from tests.publish.conftest import status_from

HEADER_KEYS = {"v", "topic", "camera", "host", "seq", "capture_wall", "capture_mono", "done_mono", "publish_wall",
               "publish_mono", "shape", "dtype", "encoding", "depth_range", "align", "infer_ms", "model",
               "weights_sha256", "backend", "precision"}


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def publishers():
    started: list[ZmqPublisher] = []

    def start(renderer=None, **kw) -> ZmqPublisher:
        kw.setdefault("port", 0)
        callbacks = kw.pop("callbacks", {})
        pub = ZmqPublisher(ZmqPublisherOptions(**kw), renderer=renderer)
        pub.start(status_from(**callbacks))
        started.append(pub)
        return pub

    yield start
    for pub in started:
        assert pub.stop(2.0)


def sub_socket(ctx, endpoint: str, *topics: bytes, rcvhwm: int = 1000) -> zmq.Socket:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, rcvhwm)
    for t in topics:
        s.setsockopt(zmq.SUBSCRIBE, t)
    s.connect(endpoint)
    return s


def collect(sock: zmq.Socket, want: dict[bytes, int], timeout: float = 5.0) -> dict[bytes, list[list[bytes]]]:
    got: dict[bytes, list[list[bytes]]] = {t: [] for t in want}
    deadline = time.monotonic() + timeout
    while any(len(got[t]) < n for t, n in want.items()):
        assert time.monotonic() < deadline, {t: len(v) for t, v in got.items()}
        if sock.poll(100):
            parts = sock.recv_multipart()
            got.setdefault(parts[0], []).append(parts)
    return got


def test_binds_loopback_by_default():
    assert ZmqPublisherOptions().host == "127.0.0.1"
    assert ZmqPublisherOptions().hwm_frames <= 4


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_topics_headers_and_array_roundtrip(ctx, publishers, frames, renderer, feeder, dtype):
    pub = publishers(renderer, depth_dtype=dtype, camera_id="porch", status_interval_s=0.2)
    assert pub.endpoint.startswith("tcp://127.0.0.1:")
    sock = sub_socket(ctx, pub.endpoint, b"depth", b"color", b"status")
    with feeder(pub.publish, fps=50):
        got = collect(sock, {b"depth": 6, b"color": 6, b"status": 1})

    for topic in (b"depth", b"color"):
        seqs = []
        for parts in got[topic]:
            assert len(parts) == 3
            header = json.loads(parts[1])
            assert HEADER_KEYS <= header.keys()
            assert header["v"] == 1 and header["topic"] == topic.decode() and header["camera"] == "porch"
            assert header["model"] == "MiDaS_small" and header["weights_sha256"] == "ab" * 32
            assert header["backend"] == "test" and header["align"] == [2.0, 0.0]
            assert header["capture_mono"] <= header["publish_mono"] < header["capture_mono"] + 1.0
            seq = header["seq"]
            seqs.append(seq)
            assert header["depth_range"] == [float(seq), float(seq) + 1.0]
            expected = frames(seq)
            if topic == b"depth":
                assert header["encoding"] == "raw" and header["dtype"] == dtype and header["field"] == "depth"
                arr = np.frombuffer(parts[2], dtype=header["dtype"]).reshape(header["shape"])
                assert arr.shape == (24, 32) and arr.dtype == np.dtype(dtype)
                np.testing.assert_array_equal(arr, expected.depth.astype(dtype))
            else:
                assert header["encoding"] == "jpeg" and header["view"] == "depth"
                image = cv2.imdecode(np.frombuffer(parts[2], np.uint8), cv2.IMREAD_COLOR)
                assert image.shape == tuple(header["shape"]) == (48, 64, 3)
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # rising, no repeats

    status_header = json.loads(got[b"status"][0][1])
    assert status_header["v"] == 1 and status_header["encoding"] == "json"


def test_raw_field_and_depth_only(ctx, publishers, frames, feeder):
    pub = publishers(None, send_color=False, depth_field="raw")
    sock = sub_socket(ctx, pub.endpoint, b"")
    with feeder(pub.publish, fps=50):
        got = collect(sock, {b"depth": 3})
    assert b"color" not in got
    header = json.loads(got[b"depth"][-1][1])
    arr = np.frombuffer(got[b"depth"][-1][2], dtype=np.float32).reshape(header["shape"])
    np.testing.assert_array_equal(arr, frames(header["seq"]).raw)
    assert header["field"] == "raw"


def test_status_heartbeat_without_frames(ctx, publishers):
    pub = publishers(None, send_color=False, status_interval_s=0.1)
    sock = sub_socket(ctx, pub.endpoint, b"status")
    t0 = time.monotonic()
    got = collect(sock, {b"status": 3}, timeout=3.0)
    assert time.monotonic() - t0 < 2.0
    for parts in got[b"status"]:
        status = json.loads(parts[2])
        assert status["state"] == "starting" and status["fps"] == 0.0 and status["reason"]


def test_status_reports_no_signal_and_health(ctx, publishers):
    pub = publishers(None, send_color=False, status_interval_s=0.1,
                     callbacks={"no_signal": lambda: "camera unplugged", "stats": lambda: {"model_fps": 9.5}})
    got = collect(sub_socket(ctx, pub.endpoint, b"status"), {b"status": 1})
    status = json.loads(got[b"status"][0][2])
    assert status["state"] == "no_signal" and status["reason"] == "camera unplugged"
    assert status["stats"] == {"model_fps": 9.5}

    pub2 = publishers(None, send_color=False, status_interval_s=0.1,
                      callbacks={"health": lambda: (False, "model too slow")})
    got = collect(sub_socket(ctx, pub2.endpoint, b"status"), {b"status": 1})
    status = json.loads(got[b"status"][0][2])
    assert (status["state"], status["reason"]) == ("unhealthy", "model too slow")


def test_status_fps_while_streaming(ctx, publishers, feeder):
    pub = publishers(None, send_color=False, status_interval_s=0.3)
    sock = sub_socket(ctx, pub.endpoint, b"status")
    with feeder(pub.publish, fps=50):
        time.sleep(0.4)
        got = collect(sock, {b"status": 2})
    status = json.loads(got[b"status"][-1][2])
    assert status["state"] == "streaming" and 20 < status["fps"] < 80


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_stalled_subscriber_never_blocks_publish_nor_grows_memory(ctx, publishers, frames):
    # Big depth maps (480 x 640) and float16, so every send allocates a fresh 600 kB payload: if anything queued
    # them for the stalled subscriber, memory would grow by hundreds of MB.
    pub = publishers(None, send_color=False, depth_dtype="float16")
    stalled = sub_socket(ctx, pub.endpoint, b"depth", rcvhwm=1)
    stalled.setsockopt(zmq.RCVBUF, 64 * 1024)
    pool = [frames(i, h=960, w=1280) for i in range(4)]
    deadline = time.monotonic() + 3.0
    while not stalled.poll(0):  # one message proves the subscription is live; then it never reads again
        assert time.monotonic() < deadline
        pub.publish(pool[0])
        time.sleep(0.02)
    stalled.recv_multipart()

    rss0, rss_max, slowest, total = _rss_mb(), 0.0, 0.0, 0.0
    for i in range(3000):
        t = time.perf_counter()
        pub.publish(pool[i % 4])
        dt = time.perf_counter() - t
        slowest, total = max(slowest, dt), total + dt
        if i % 100 == 0:
            rss_max = max(rss_max, _rss_mb())
        time.sleep(0.0003)  # let the worker send many of them
    deadline = time.monotonic() + 2.0
    while pub.published != pub.sent + pub.dropped:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    assert total < 1.0 and slowest < 0.05, (total, slowest)
    assert pub.sent >= 300, pub.sent  # the socket really saw a flood while nobody read
    assert pub.dropped > 0 and pub.published == pub.sent + pub.dropped
    assert max(rss_max, _rss_mb()) - rss0 < 150, (rss0, rss_max)

    drained = 0
    while stalled.poll(200):
        stalled.recv_multipart()
        drained += 1
    assert drained < 60 < pub.sent, drained  # only a bounded backlog was kept for the stalled subscriber


def test_stop_is_prompt_and_releases_port(publishers):
    pub = ZmqPublisher(ZmqPublisherOptions(port=0, send_color=False))
    pub.start()
    port = int(pub.endpoint.rsplit(":", 1)[1])
    t = time.monotonic()
    assert pub.stop(1.0)
    assert time.monotonic() - t < 1.0
    again = publishers(None, port=port, send_color=False)
    assert again.endpoint.endswith(f":{port}")


def test_color_needs_a_renderer():
    with pytest.raises(ValueError, match="renderer"):
        ZmqPublisher(ZmqPublisherOptions(port=0))
