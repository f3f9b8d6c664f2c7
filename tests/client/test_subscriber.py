"""DepthSubscriber against a real ZmqPublisher: decoding, latest-frame mode, timeouts."""
from __future__ import annotations

import time

import numpy as np
import pytest

from streamer.client.subscriber import DepthSubscriber
from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions


@pytest.fixture
def publisher(renderer):
    pubs = []

    def make(**kw):
        pub = ZmqPublisher(ZmqPublisherOptions(port=0, **kw), renderer=renderer)
        pub.start()
        pubs.append(pub)
        return pub

    yield make
    for pub in pubs:
        pub.stop(2.0)


def recv_until(sub: DepthSubscriber, topic: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = sub.recv(timeout=0.1)
        if msg is not None and msg[0] == topic:
            return msg
    raise AssertionError(f"no {topic} message within {timeout} s")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_decodes_every_topic(publisher, feeder, frames, dtype):
    pub = publisher(depth_dtype=dtype, status_interval_s=0.1)
    with DepthSubscriber(pub.endpoint) as sub, feeder(pub.publish, fps=50):
        topic, header, depth = recv_until(sub, "depth")
        assert isinstance(depth, np.ndarray) and depth.dtype == np.dtype(dtype) and depth.shape == (24, 32)
        np.testing.assert_array_equal(depth, frames(header["seq"]).depth.astype(dtype))
        _, header, jpeg = recv_until(sub, "color")
        assert isinstance(jpeg, bytes) and jpeg[:2] == b"\xff\xd8"
        _, header, status = recv_until(sub, "status")
        assert isinstance(status, dict) and status["state"] in ("starting", "streaming")


def test_latest_frame_mode_keeps_newest_per_topic(publisher, frames):
    pub = publisher(send_color=False, status_interval_s=0.05)
    with DepthSubscriber(pub.endpoint, topics=("depth", "status")) as sub:
        recv_until(sub, "status")  # connected and subscribed
        for seq in range(3):
            pub.publish(frames(seq))
            time.sleep(0.05)  # let each one go out
        time.sleep(0.2)
        got = {}
        for _ in range(2):
            msg = sub.recv(timeout=1.0)
            assert msg is not None
            got[msg[0]] = msg
        assert set(got) == {"depth", "status"}  # a heartbeat never hides a frame
        assert got["depth"][1]["seq"] == 2 and sub.dropped >= 2


def test_recv_times_out_without_messages(publisher):
    pub = publisher(send_color=False)
    with DepthSubscriber(pub.endpoint, topics=("depth",)) as sub:
        t = time.monotonic()
        assert sub.recv(timeout=0.2) is None
        assert 0.15 < time.monotonic() - t < 1.0


def test_rejects_other_wire_versions():
    from streamer.client.subscriber import decode
    with pytest.raises(ValueError, match="wire version"):
        decode([b"depth", b'{"v": 2, "encoding": "raw"}', b""])
