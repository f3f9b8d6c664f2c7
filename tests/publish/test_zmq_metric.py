"""The metric topics on a real XPUB publisher and real SUB sockets: formats, exact points, nothing built unwanted."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import zmq

from streamer.client.subscriber import DepthSubscriber
from streamer.geometry import AnchorFit, CameraModel, backproject
from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions
from tests.publish.conftest import make_frame

CAM = CameraModel(30.0, 31.0, 15.5, 11.5, 32, 24)


def metric_frame(seq: int, camera: CameraModel = CAM):
    frame = make_frame(seq)  # depth 24 x 32
    metric = np.linspace(0.5, 6.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    metric[0, 0], metric[0, 2] = np.nan, np.inf
    truth = np.full((48, 64), 2.5, np.float32)
    captured = dataclasses.replace(frame.captured, truth_depth=truth)
    anchor = AnchorFit("points", True, 0.5, 0.1, used=5, inliers=0.8, residual=0.03, age_s=0.1)
    return dataclasses.replace(frame, captured=captured, camera=camera, metric=metric, anchor=anchor)


@pytest.fixture
def publisher():
    pub = ZmqPublisher(ZmqPublisherOptions(port=0, send_color=False))
    pub.start()
    yield pub
    assert pub.stop(2.0)


def feed_until(pub, sub: DepthSubscriber, topic: str, frame_of, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        pub.publish(frame_of(seq))
        msg = sub.recv(timeout=0.1)
        while msg is not None:
            if msg[0] == topic:
                return msg
            msg = sub.recv(timeout=0.05)
    raise AssertionError(f"no {topic} message within {timeout} s")


def test_metric_points_truth_roundtrip(publisher):
    with DepthSubscriber(publisher.endpoint, topics=("metric", "points", "truth")) as sub:
        _, mh, metric = feed_until(publisher, sub, "metric", metric_frame)
        _, ph, cloud = feed_until(publisher, sub, "points", metric_frame)
        _, th, truth = feed_until(publisher, sub, "truth", metric_frame)
    ref = metric_frame(0).metric
    assert mh["unit"] == "m" and mh["dtype"] == "float32" and mh["intrinsics"] == CAM.intrinsics()
    assert np.isnan(metric[0, 0]) and metric[0, 2] == np.inf and np.array_equal(metric[1:], ref[1:])
    assert mh["anchor"]["used"] == 5 and mh["anchor"]["mode"] == "points" and mh["anchor"]["ok"]
    exact = backproject(ref, CAM, stride=2)
    assert ph["points"] == len(exact) == 16 * 12 - 2 and ph["stride"] == 2 and ph["frame_id"] == "camera_optical"
    assert np.abs(cloud["xyz"] - exact.xyz).max() <= 1e-6 * np.abs(exact.xyz).max()
    assert cloud["rgb"].dtype == np.uint8 and cloud["rgb"].shape == (len(exact), 3)
    assert truth.shape == (24, 32) and np.all(truth == 2.5) and th["unit"] == "m"


def test_nothing_is_built_for_a_topic_nobody_reads(publisher):
    # A camera model that does not fit the metric map makes back-projection raise: while nobody subscribes to
    # `points` the publisher must not even try (no error counted); once someone does, it tries (and counts it).
    wrong = CameraModel(30.0, 30.0, 10.0, 10.0, 64, 48)
    with DepthSubscriber(publisher.endpoint, topics=("depth", "metric")) as sub:
        feed_until(publisher, sub, "metric", lambda s: metric_frame(s, wrong))
        assert publisher.errors == 0
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"points")
    s.connect(publisher.endpoint)
    try:
        deadline = time.monotonic() + 5
        seq = 100
        while publisher.errors == 0 and time.monotonic() < deadline:
            seq += 1
            publisher.publish(metric_frame(seq, wrong))
            time.sleep(0.05)
        assert publisher.errors > 0
    finally:
        s.close(0)
        ctx.term()


def test_no_metric_message_without_a_metric_map(publisher):
    lost = AnchorFit("ground", False, reason="anchoring lost: no floor found")

    def frame_of(seq):
        return dataclasses.replace(metric_frame(seq), metric=None, anchor=lost)
    with DepthSubscriber(publisher.endpoint, topics=("metric", "points", "depth")) as sub:
        _, header, _ = feed_until(publisher, sub, "depth", frame_of)
        assert header["anchor"]["ok"] is False and "no floor" in header["anchor"]["reason"]
        for _ in range(5):
            publisher.publish(frame_of(50))
            msg = sub.recv(timeout=0.1)
            assert msg is None or msg[0] == "depth"


def _sigma_frame(seq: int, computed: list):
    """A metric frame whose sigma is a real LazySigma (from a real assessment) that notes when it is computed."""
    from streamer.geometry.evidence import evidence
    from streamer.geometry.verdict import LazySigma, assess

    frame = metric_frame(seq)
    depth = np.linspace(100, 900, 24 * 32, dtype=np.float32).reshape(24, 32)
    d = np.array([150.0, 300, 450, 600, 750, 850])
    ev = evidence(depth, d, 1e-3 * d + 0.05 + np.array([0.01, -0.01, 0.02, 0, -0.02, 0.01]), np.ones(6), 1e-3, 0.05,
                  40.0)
    a = assess(ev, mode="points", max_rel_error=0.25, max_range_m=40.0)

    class Noting(LazySigma):
        def get(self) -> np.ndarray:
            computed.append(seq)
            return super().get()

    sigma = Noting(a, depth, 1e-3, 0.05, 1.0 / (1e-3 * depth + 0.05))
    return dataclasses.replace(frame, sigma=sigma)


def test_metric_sigma_only_for_its_subscribers_with_the_metric_seq(publisher):
    computed: list[int] = []
    with DepthSubscriber(publisher.endpoint, topics=("metric",)) as sub:  # "metric" is a prefix of "metric_sigma"
        for _ in range(3):
            topic, header, _ = feed_until(publisher, sub, "metric", lambda s: _sigma_frame(s, computed))
            assert topic == "metric"  # the subscriber is handed only what it asked for
    assert computed == []  # nobody asked for sigma: never computed
    with DepthSubscriber(publisher.endpoint, topics=("metric", "metric_sigma")) as sub:
        _, sh, sigma = feed_until(publisher, sub, "metric_sigma", lambda s: _sigma_frame(s, computed))
    assert computed and sh["seq"] in computed and sh["unit"] == "m" and sh["anchor"]["used"] == 5
    assert sigma.shape == (24, 32) and sigma.dtype == np.float32 and np.isfinite(sigma).all() and (sigma > 0).all()
