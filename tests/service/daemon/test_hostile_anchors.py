"""The anchors port under hostile input (issue 26 A2, A3, A7): a real daemon in points mode, a real PUB sender.

Malformed headers (null, a list, nested 2000 deep, a 400-digit number), absurd image sizes sent at 20 Hz and
messages over `[metric] max_anchors` (set low here, so small payloads exercise the limit) are refused and counted;
the receiver never dies, depth keeps flowing the whole time, and good anchors anchor again right after.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import zmq

from streamer.publish.wire import anchors_message
from streamer.tools.measure import free_port

from .harness import metric_daemon

NET_W, NET_H = 256, 192
MAX_ANCHORS = 500


@pytest.fixture(scope="module")
def points(daemon_cache):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    d = metric_daemon(daemon_cache, "points", "--set", f'metric.anchors_endpoint="{endpoint}"', "--set",
                      "metric.hold_s=0.3", "--set", "metric.max_age_s=0.5", "--set",
                      f"metric.max_anchors={MAX_ANCHORS}")
    try:
        d.wait_healthy()
        yield d, endpoint
    finally:
        d.kill()


def good_message() -> list[bytes]:
    """Eight anchors on a plausible depth ramp (the fit needs a spread of depths), measured now."""
    u = np.linspace(20, NET_W - 20, 8)
    v = np.linspace(NET_H - 10, NET_H // 2, 8)
    z = np.linspace(1.5, 8.0, 8)
    return anchors_message(np.stack([u, v, z], 1), capture_wall=time.time(), width=NET_W, height=NET_H,
                           sender="good")


def header(**fields) -> bytes:
    return json.dumps({"v": 1, "topic": "anchors", "encoding": "json", "capture_wall": time.time(), **fields}).encode()


def hostile_messages() -> list[tuple[str, list[bytes]]]:
    deep = b"[" * 2000 + b"]" * 2000  # past Python's recursion limit, within the header's 4 kB
    big_int = b"1" + b"0" * 400
    raw = np.zeros((4, 3))
    raw_header = {"shape": [4, 3], "dtype": "float64", "encoding": "raw"}
    return [
        ("null header", [b"anchors", b"null", b"[[1, 2, 3]]"]),
        ("list header", [b"anchors", b"[1, 2]", b"[[1, 2, 3]]"]),
        ("nested header", [b"anchors", deep, b"[[1, 2, 3]]"]),
        ("400-digit capture_wall", [b"anchors", b'{"v": 1, "encoding": "json", "capture_wall": ' + big_int + b"}",
                                    b"[[1, 2, 3]]"]),
        ("null payload", [b"anchors", header(), b"null"]),
        ("nested payload", [b"anchors", header(), deep]),
        ("400-digit anchor", [b"anchors", header(), b"[[1, 2, " + big_int + b"]]"]),
        ("object dtype", [b"anchors", header(**{**raw_header, "dtype": "O"}), raw.tobytes()]),
        ("shape mismatch", [b"anchors", header(**{**raw_header, "shape": [5, 3]}), raw.tobytes()]),
        ("over max_anchors", anchors_message(np.ones((MAX_ANCHORS + 1, 3)), capture_wall=time.time())),
    ]


def test_hostile_anchors_are_refused_depth_flows_and_good_anchors_anchor_again(points):
    daemon, endpoint = points
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(endpoint)
    try:
        def anchored() -> bool:
            pub.send_multipart(good_message())
            time.sleep(0.05)
            return daemon.stats()["metric"]["anchor"]["ok"]
        daemon.wait_for(anchored, 30, "anchored by the good sender")

        # A2: every malformed message is refused by name and counted, one after the other on one connection
        for what, message in hostile_messages():
            before = daemon.stats()["metric"]["anchors"]["refused"]
            daemon.wait_for(lambda m=message, b=before: pub.send_multipart(m) or time.sleep(0.05)
                            or daemon.stats()["metric"]["anchors"]["refused"] > b, 20, f"the {what} refused")
        # A3: absurd image sizes at 20 Hz for 3 s: refused, and depth keeps flowing all along
        out0 = daemon.frames_out()
        for i in range(60):
            side = 10**12 if i % 2 else 10**400  # the header check refuses the first, the JSON reader the second
            pub.send_multipart([b"anchors", header(width=side, height=side), b"[[1, 2, 3], [5, 6, 7]]"])
            time.sleep(0.05)
        assert daemon.frames_out() > out0 + 5, "depth stopped while absurd sizes arrived"
        anchors = daemon.stats()["metric"]["anchors"]
        assert "width/height must be whole numbers" in anchors["last_error"]
        # A7: a message far over max_anchors (2 MB here; ZeroMQ's MAXMSGSIZE drops it before it is buffered)
        rss0, received0 = daemon.rss_mb(), daemon.stats()["metric"]["anchors"]["received"]
        for _ in range(5):
            pub.send_multipart(anchors_message(np.ones((100_000, 3)), capture_wall=time.time()))
        time.sleep(1.0)
        assert daemon.stats()["metric"]["anchors"]["received"] == received0, "an over-size message was taken"
        assert daemon.rss_mb() < rss0 + 200
        # the sender's good anchors anchor again right after (ZeroMQ reconnects the dropped connection)
        daemon.wait_for(lambda: not daemon.stats()["metric"]["anchor"]["ok"], 20, "the good fit to lapse")
        daemon.wait_for(anchored, 20, "anchored again after the hostile messages")
    finally:
        pub.close(0)
        ctx.term()
    stats = daemon.stats()
    anchors = stats["metric"]["anchors"]
    assert anchors["alive"] and anchors["errors"] == 0 and anchors["max_anchors"] == MAX_ANCHORS
    assert daemon.http("/healthz")[0] == 200
    assert "Traceback" not in daemon.log, daemon.log_tail()
