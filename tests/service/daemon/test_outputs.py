"""One real daemon on the looping cockatoo clip, observed by real clients: ZeroMQ (raw SUB and DepthSubscriber),
imagezmq's ImageHub, MJPEG/HTTP; then slow and stalled consumers must not slow it; then SIGTERM must end it fast.

The daemon is shared by the whole module (tests only observe it); the SIGTERM test ends it, so it comes last.
"""
from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import imagezmq
import numpy as np
import pytest
import zmq

from streamer.client.subscriber import DepthSubscriber
from tests.conftest import REPO, SEED_WEIGHTS

from .harness import DaemonProcess, MjpegReader, decode_jpeg, stalled_http_client

CAMERA_ID = "porch-cam"
CAMERA_SHAPE = (480, 640, 3)  # the clip's size: color JPEGs and MJPEG frames come at camera resolution
NET_SHAPE = (192, 256)  # 640x480 at net_size 256 (longer side), multiples of 32
MODEL_NAME = "midas_v21_small_256"
STATUS_KEYS = {"state", "reason", "fps", "last_seq", "published", "sent", "dropped", "errors"}  # WIRE.md, status
WINDOW_S = 4.0  # rate measurement window
RECV_TIMEOUT_S = 10.0


def wire_fields() -> tuple[list[str], list[str]]:
    """(fields on every topic, every header field) as streamer/publish/WIRE.md lists them, so the test follows it."""
    text = (REPO / "streamer" / "publish" / "WIRE.md").read_text()
    common = re.findall(r"`(\w+)`", re.search(r"all topics: (.*?);", text).group(1))  # type: ignore[union-attr]
    table = text.split("| field | meaning |", 1)[1]
    fields: list[str] = []
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            break
        fields += re.findall(r"`(\w+)`", row.split("|")[1])
    return common, fields


COMMON_FIELDS, HEADER_FIELDS = wire_fields()
SEED_SHA256 = hashlib.sha256(SEED_WEIGHTS.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def daemon(daemon_cache) -> Iterator[DaemonProcess]:
    d = DaemonProcess("--camera-id", CAMERA_ID, "--set", "source.loop=true", "--set", "daemon.imagezmq=true",
                      cache=daemon_cache).start()
    try:
        d.wait_healthy()
        yield d
    finally:
        d.kill()


def collect(endpoint: str, want: dict[str, int], timeout: float = RECV_TIMEOUT_S) -> dict[str, list[list[bytes]]]:
    """A plain zmq.SUB socket: receive until each topic in `want` has that many messages."""
    got: dict[str, list[list[bytes]]] = {topic: [] for topic in want}
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for topic in want:
        sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sub.connect(endpoint)
    deadline = time.monotonic() + timeout
    try:
        while any(len(got[t]) < n for t, n in want.items()):
            assert time.monotonic() < deadline, f"within {timeout} s got only {({t: len(v) for t, v in got.items()})}"
            if sub.poll(100):
                parts = sub.recv_multipart()
                got[parts[0].decode()].append(parts)
    finally:
        sub.close(0)
        ctx.term()
    return got


def check_frame_header(header: dict, topic: str) -> None:
    missing = set(HEADER_FIELDS) - {"field", "view"} - set(header)
    assert not missing, f"{topic} header lacks {missing}"
    assert header["v"] == 1 and header["topic"] == topic
    assert header["camera"] == CAMERA_ID and header["host"] == socket.gethostname()
    assert header["model"] == MODEL_NAME and header["weights_sha256"] == SEED_SHA256
    assert header["weights_official"] is False  # the seed weights are not the official file
    assert isinstance(header["backend"], str) and header["backend"]
    assert header["capture_mono"] <= header["done_mono"] <= header["publish_mono"] <= time.monotonic()
    assert abs(header["capture_wall"] - time.time()) < 30 and header["publish_wall"] >= header["capture_wall"]
    lo, hi = header["depth_range"]
    assert lo <= hi and len(header["align"]) == 2 and header["infer_ms"] > 0


def test_zmq_sub_receives_documented_messages(daemon):
    got = collect(daemon.zmq_endpoint, {"depth": 6, "color": 3, "status": 1})
    assert HEADER_FIELDS and set(COMMON_FIELDS) <= set(HEADER_FIELDS) | {"topic"}, "WIRE.md parse went wrong"

    seqs = []
    for _topic, raw_header, payload in got["depth"]:
        header = json.loads(raw_header)
        check_frame_header(header, "depth")
        assert header["field"] == "depth" and header["encoding"] == "raw"
        assert header["dtype"] == "float32" and header["shape"] == list(NET_SHAPE)
        assert len(payload) == NET_SHAPE[0] * NET_SHAPE[1] * 4
        depth = np.frombuffer(payload, dtype=header["dtype"]).reshape(header["shape"])
        assert np.isfinite(depth).all()
        seqs.append(header["seq"])
    assert all(b > a for a, b in zip(seqs, seqs[1:], strict=False)), f"depth seq not rising: {seqs}"

    color_seqs = []
    for _topic, raw_header, payload in got["color"]:
        header = json.loads(raw_header)
        check_frame_header(header, "color")
        assert header["encoding"] == "jpeg" and header["dtype"] == "uint8" and header["view"] == "depth"
        image = decode_jpeg(payload)
        assert image.shape == CAMERA_SHAPE and header["shape"] == list(CAMERA_SHAPE)
        color_seqs.append(header["seq"])
    assert all(b > a for a, b in zip(color_seqs, color_seqs[1:], strict=False)), color_seqs

    _topic, raw_header, payload = got["status"][0]
    header = json.loads(raw_header)
    assert set(COMMON_FIELDS) <= set(header) and header["v"] == 1 and header["encoding"] == "json"
    assert header["camera"] == CAMERA_ID
    status = json.loads(payload)
    assert STATUS_KEYS <= set(status), STATUS_KEYS - set(status)
    assert status["state"] == "streaming" and status["last_seq"] >= 0 and status["sent"] > 0
    assert status["stats"]["model"]["weights_official"] is False
    assert status["stats"]["model"]["weights_sha256"] == SEED_SHA256


def test_depth_subscriber_client(daemon):
    depth_seqs: list[int] = []
    seen: set[str] = set()
    deadline = time.monotonic() + RECV_TIMEOUT_S
    with DepthSubscriber(daemon.zmq_endpoint) as sub:
        while len(depth_seqs) < 5 or seen != {"depth", "color", "status"}:
            assert time.monotonic() < deadline, f"got {len(depth_seqs)} depth frames, topics {seen}"
            msg = sub.recv(timeout=1.0)
            if msg is None:
                continue
            topic, header, payload = msg
            seen.add(topic)
            assert header["camera"] == CAMERA_ID and header["topic"] == topic
            if topic == "depth":
                assert isinstance(payload, np.ndarray)
                assert payload.dtype == np.float32 and payload.shape == NET_SHAPE
                depth_seqs.append(header["seq"])
            elif topic == "color":
                assert decode_jpeg(payload).shape == CAMERA_SHAPE
            else:
                assert payload["state"] == "streaming"
    assert all(b > a for a, b in zip(depth_seqs, depth_seqs[1:], strict=False)), depth_seqs


def test_imagezmq_hub_receives_jpegs(daemon):
    hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{daemon.imagezmq_port}", REQ_REP=False)
    try:
        for _ in range(3):
            # ImageHub's receives block forever: poll its socket first so silence fails the test instead.
            assert hub.zmq_socket.poll(int(RECV_TIMEOUT_S * 1000)), "imagezmq: nothing received"
            name, jpg = hub.recv_jpg()
            assert name == "camera0"  # [imagezmq] name default
            assert decode_jpeg(jpg).shape == CAMERA_SHAPE
    finally:
        hub.close()


def test_mjpeg_stream_parts(daemon):
    reader = MjpegReader(daemon.http_port)
    try:
        assert reader.response.status == 200
        assert reader.boundary, f"no boundary in Content-Type {reader.content_type!r}"
        seqs = []
        for _ in range(12):
            headers, body = reader.part()
            assert headers["content-type"] == "image/jpeg" and "x-no-signal" not in headers
            assert decode_jpeg(body).shape == CAMERA_SHAPE  # default_view = depth, at camera size
            seqs.append(int(headers["x-seq"]))
    finally:
        reader.close()
    assert all(b > a for a, b in zip(seqs, seqs[1:], strict=False)), f"a frame was sent twice: {seqs}"


def test_snapshot_stats_healthz(daemon):
    status, headers, body = daemon.http("/snapshot.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert int(headers["content-length"]) == len(body) and decode_jpeg(body).shape == CAMERA_SHAPE
    status, _, body = daemon.http("/snapshot.jpg?view=side_by_side")
    assert status == 200 and decode_jpeg(body).shape == (480, 1280, 3)

    assert daemon.http("/healthz")[:3:2] == (200, b"ok\n")

    stats = daemon.stats()
    assert stats["fps_out"] > 5 and stats["frames_out"] > 0
    p = stats["latency_ms"]
    assert 0 < p["p50"] <= p["p90"] <= p["p99"]
    # Each captured frame was published or dropped (newest wins), never both: a frame or two in flight at most.
    assert isinstance(stats["dropped"], int) and stats["frames_out"] + stats["dropped"] <= stats["source"]["frames"] + 2
    assert stats["source"]["state"] == "live" and stats["source"]["width"] == 640
    assert stats["model"]["weights_official"] is False


def _frames_per_s(daemon: DaemonProcess, window: float) -> float:
    n0, t0 = daemon.frames_out(), time.monotonic()
    time.sleep(window)  # a measurement window, not a wait for readiness
    n1, t1 = daemon.frames_out(), time.monotonic()
    return (n1 - n0) / (t1 - t0)


@pytest.mark.serial  # compares fps measured one after the other
def test_slow_and_stalled_consumers_do_not_slow_the_pipeline(daemon, capsys):
    unloaded = _frames_per_s(daemon, WINDOW_S)
    rss_before = daemon.rss_mb()

    stop = threading.Event()
    parts = [0, 0]
    errors: list[BaseException] = []

    def watch(i: int) -> None:
        reader = MjpegReader(daemon.http_port)
        try:
            while not stop.is_set():
                reader.part()
                parts[i] += 1
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            reader.close()

    watchers = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(2)]
    ctx = zmq.Context()
    stalled_sub = ctx.socket(zmq.SUB)  # subscribes to everything and never reads
    stalled_sub.setsockopt(zmq.LINGER, 0)
    stalled_sub.setsockopt(zmq.SUBSCRIBE, b"")
    stalled_sub.connect(daemon.zmq_endpoint)
    stalled_http = stalled_http_client(daemon.http_port)
    try:
        for w in watchers:
            w.start()
        daemon.wait_for(lambda: daemon.stats()["http"]["clients"] == 3, 5.0, "3 MJPEG viewers")
        time.sleep(1.0)  # let the stalled clients' buffers fill up before measuring
        served_before = list(parts)
        loaded = _frames_per_s(daemon, WINDOW_S)
        served = [b - a for a, b in zip(served_before, parts, strict=True)]
        rss_after = daemon.rss_mb()
        assert not errors, errors
        assert daemon.stats()["http"]["clients"] == 3, "a viewer was dropped during the window"
    finally:
        stop.set()
        for w in watchers:
            w.join(5)
        stalled_http.close()
        stalled_sub.close(0)
        ctx.term()

    with capsys.disabled():
        print(f"\n[daemon] fps unloaded {unloaded:.1f}, loaded {loaded:.1f}; MJPEG parts per viewer {served}; "
              f"RSS {rss_before:.0f} -> {rss_after:.0f} MB")
    assert unloaded > 5, f"the daemon itself is too slow to compare ({unloaded:.1f} fps)"
    assert loaded >= 0.8 * unloaded, f"consumers slowed the pipeline: {loaded:.1f} vs {unloaded:.1f} fps"
    for n in served:  # the healthy viewers really were served, alongside the stalled ones
        assert n >= 0.5 * loaded * WINDOW_S, f"a healthy MJPEG viewer got {n} frames in {WINDOW_S} s"
    assert rss_after <= rss_before + 100, f"RSS grew {rss_before:.0f} -> {rss_after:.0f} MB"


def test_sigterm_exits_zero_quickly_despite_stalled_clients(daemon, capsys):
    stalled_http = stalled_http_client(daemon.http_port)
    ctx = zmq.Context()
    stalled_sub = ctx.socket(zmq.SUB)
    stalled_sub.setsockopt(zmq.LINGER, 0)
    stalled_sub.setsockopt(zmq.SUBSCRIBE, b"")
    stalled_sub.connect(daemon.zmq_endpoint)
    try:
        daemon.wait_for(lambda: daemon.stats()["http"]["clients"] == 1, 5.0, "the stalled viewer")
        time.sleep(0.5)  # its socket buffers fill, so the server's writes to it block
        rc, elapsed = daemon.stop(signal.SIGTERM)
    finally:
        stalled_http.close()
        stalled_sub.close(0)
        ctx.term()
    with capsys.disabled():
        print(f"\n[daemon] SIGTERM -> exit {rc} in {elapsed:.2f} s")
    assert rc == 0, daemon.log
    assert elapsed < 3.0, f"took {elapsed:.2f} s to stop"
    assert "stopped in" in daemon.log
