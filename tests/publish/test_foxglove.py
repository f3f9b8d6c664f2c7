"""FoxglovePublisher under a real Foxglove WebSocket client (subprotocol foxglove.sdk.v1, via `websockets`): every
channel is subscribed and its messages decoded with the schema the server advertised; nothing is encoded for a
channel nobody watches; a client that stalls does not slow the publisher; the exposure warning."""
from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from streamer.errors import ListenError
from streamer.geometry import CameraModel, Mount, backproject
from streamer.publish.foxglove import FoxgloveOptions, FoxglovePublisher
from streamer.publish.topics import RosOptions
from streamer.tools.foxglove_client import SUBPROTOCOL, FoxgloveClient

from .conftest import CallableStatus, make_frame

ROS = RosOptions()
STALLED_CLOSE_S = 0.5  # a client that never reads never answers the close handshake either
COLOR, RELATIVE, STATUS = ROS.topic("color"), ROS.topic("relative"), ROS.topic("status")


@pytest.fixture
def foxglove(renderer):
    started: list[FoxglovePublisher] = []

    def start(**kw) -> FoxglovePublisher:
        status = kw.pop("status", CallableStatus(stats=lambda: {"fps_out": 12.5, "frames_out": 7}))
        pub = FoxglovePublisher(FoxgloveOptions(enabled=True, port=0, **kw), ROS, renderer=renderer)
        pub.start(status)
        started.append(pub)
        return pub

    yield start
    for pub in started:
        assert pub.stop(3.0)


def test_every_channel_decodes_with_its_advertised_schema(foxglove, renderer, feeder):
    pub = foxglove(status_interval_s=0.1)
    with FoxgloveClient(f"ws://127.0.0.1:{pub.port}") as client:
        assert client.subprotocol == SUBPROTOCOL
        client.wait_topics({COLOR, RELATIVE, STATUS})
        schemas = {t: c["schemaName"] for t, c in client.topics().items()}
        assert schemas[COLOR] == "foxglove.CompressedImage" and schemas[RELATIVE] == "foxglove.RawImage"
        assert client.topics()[RELATIVE]["encoding"] == "protobuf"
        assert "relative inverse depth" in client.topics()[RELATIVE]["metadata"]["unit"]
        client.subscribe([COLOR, RELATIVE, STATUS])
        with feeder(pub.publish, fps=20, h=48, w=64):
            got = client.collect({COLOR: 3, RELATIVE: 3, STATUS: 2})
    for msg in got[RELATIVE]:
        m = msg.message
        assert (m.encoding, m.width, m.height, m.step, m.frame_id) == ("32FC1", 32, 24, 128, ROS.frame_id)
        depth = np.frombuffer(m.data, "<f4").reshape(24, 32)
        seq = round(float(depth[0, 0]))  # make_frame: a 0..1 ramp plus seq
        np.testing.assert_array_equal(depth, make_frame(seq).depth)
        stamp_ns = m.timestamp.seconds * 10**9 + m.timestamp.nanos
        assert stamp_ns == msg.log_time and abs(stamp_ns / 1e9 - time.time()) < 60  # capture time, not epoch 0
    for msg in got[COLOR]:
        m = msg.message
        assert m.format == "jpeg" and m.frame_id == ROS.frame_id
        image = cv2.imdecode(np.frombuffer(m.data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (48, 64, 3)  # the colorized view at camera resolution
    status = got[STATUS][-1].message
    assert status["state"] == "streaming" and status["stats"] == {"fps_out": 12.5, "frames_out": 7}
    # The color JPEG is the renderer's: one encode per frame, whoever asks (here only this publisher did).
    assert renderer.encodes()["depth"] <= pub.published


def test_nothing_is_encoded_without_a_subscriber(foxglove, renderer, feeder):
    pub = foxglove()
    with FoxgloveClient(f"ws://127.0.0.1:{pub.port}") as client:
        client.wait_topics({COLOR, RELATIVE})
        with feeder(pub.publish, fps=50):
            deadline = time.monotonic() + 10
            while pub.published < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert pub.published >= 10
        assert client.receive(0.3) is None  # connected but subscribed to nothing: nothing arrives
    assert pub.messages == 0 and pub.sent == 0
    assert renderer.encodes()["depth"] == 0  # not even the JPEG
    assert pub.audience() == 0


def test_subscriptions_are_counted_and_released(foxglove, feeder):
    pub = foxglove()
    client = FoxgloveClient(f"ws://127.0.0.1:{pub.port}")
    client.wait_topics({COLOR, RELATIVE})
    client.subscribe([COLOR, RELATIVE])
    with feeder(pub.publish, fps=20):
        client.collect({RELATIVE: 1})
        assert pub.subscriptions() == 2
        client.close()  # a client that goes away: its subscriptions go with it
        deadline = time.monotonic() + 10
        while pub.subscriptions() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert pub.subscriptions() == 0


@pytest.mark.serial  # compares the publisher's rate with the feeder's
def test_a_stalled_client_does_not_slow_the_publisher(foxglove, feeder):
    """A client that subscribes to everything and then never reads: the SDK drops its backlog, our thread keeps
    sending at the feeder's rate, and a second, reading client still gets fresh frames."""
    pub = foxglove(client_backlog=4)
    stalled = FoxgloveClient(f"ws://127.0.0.1:{pub.port}", close_timeout=STALLED_CLOSE_S)
    stalled.wait_topics({COLOR, RELATIVE})
    stalled.subscribe([COLOR, RELATIVE])
    with FoxgloveClient(f"ws://127.0.0.1:{pub.port}") as reader:
        reader.wait_topics({RELATIVE})
        reader.subscribe([RELATIVE])
        with feeder(pub.publish, fps=50, h=240, w=320, noise=True) as feed:
            got = reader.collect({RELATIVE: 40}, timeout=30)[RELATIVE]
            sent_while = pub.sent
        assert feed.count >= 40
    stalled.close()
    assert pub.errors == 0
    # The publisher kept pace with the feeder (its own slot drops stay a small share) while one client never read.
    assert sent_while >= 0.5 * feed.count, (sent_while, feed.count)
    seqs = [round(float(np.frombuffer(m.message.data, "<f4")[0])) for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_drops_for_stalled_clients_are_counted_and_connections_cost_no_log_lines(foxglove, feeder, caplog):
    """issue 26 F4: `dropped` stayed 0 while the SDK dropped for stalled clients; F5: ~3 log lines per connection."""
    import websockets.sync.client

    pub = foxglove(client_backlog=2)
    caplog.set_level(logging.DEBUG)
    for _ in range(20):
        ws = websockets.sync.client.connect(f"ws://127.0.0.1:{pub.port}", subprotocols=[SUBPROTOCOL])
        ws.close()
    stalled = [FoxgloveClient(f"ws://127.0.0.1:{pub.port}", close_timeout=STALLED_CLOSE_S) for _ in range(3)]
    for client in stalled:
        client.wait_topics({RELATIVE})
        client.subscribe([RELATIVE])
    with feeder(pub.publish, fps=50, h=240, w=320, noise=True):
        deadline = time.monotonic() + 30
        while not pub.counters()["client_dropped"] and time.monotonic() < deadline:
            time.sleep(0.1)
    for client in stalled:
        client.close()
    counters = pub.counters()
    assert counters["client_dropped"] >= 1 and counters["dropped"] >= counters["client_dropped"], counters
    assert counters["connections"] == 23, counters
    sdk_lines = [r for r in caplog.records if r.name.startswith("foxglove") or "client 127.0.0.1" in r.getMessage()]
    assert len(sdk_lines) <= 2, [r.getMessage() for r in sdk_lines]


def test_a_taken_port_is_a_listen_error_naming_the_section(renderer):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        pub = FoxglovePublisher(FoxgloveOptions(enabled=True, port=port), ROS, renderer=renderer)
        with pytest.raises(ListenError, match=r"\[foxglove\] port"):
            pub.start()


def test_binding_beyond_loopback_warns(renderer, caplog):
    pub = FoxglovePublisher(FoxgloveOptions(enabled=True, host="0.0.0.0", port=0), ROS, renderer=renderer)
    with caplog.at_level(logging.WARNING, logger="streamer.publish.foxglove"):
        pub.start()
        try:
            assert any("WITHOUT authentication" in r.getMessage() and "foxglove" in r.getMessage()
                       for r in caplog.records)
        finally:
            assert pub.stop(3.0)
    caplog.clear()
    loop = FoxglovePublisher(FoxgloveOptions(enabled=True, port=0), ROS, renderer=renderer)
    with caplog.at_level(logging.WARNING, logger="streamer.publish.foxglove"):
        loop.start()
        assert loop.stop(3.0)
    assert not [r for r in caplog.records if "WITHOUT authentication" in r.getMessage()]


def geometry_frame(seq: int):
    """make_frame's frame with what the steady stage adds when [camera] and [metric] are on: a camera model of the
    depth map's size, a mount, and a metric map with one invalid (NaN) and one out-of-range (+inf) pixel."""
    frame = make_frame(seq)  # a uniform grey image of value seq % 256
    h, w = frame.depth.shape
    metric = (1.0 + np.arange(h * w, dtype=np.float32).reshape(h, w) / (h * w)).astype(np.float32)
    metric[0, 0], metric[1, 1] = np.nan, np.inf
    return dataclasses.replace(frame, camera=CameraModel(40.0, 42.0, 15.5, 11.5, w, h, k1=0.01),
                               mount=Mount(0.6, pitch_deg=12.0), metric=metric)


def test_geometry_channels_calibration_points_transforms_metric(foxglove, feeder):
    pub = foxglove(status_interval_s=0.1)
    metric_t, info_t, points_t, tf_t = (ROS.topic(k) for k in ("metric", "camera_info", "points", "tf"))
    with FoxgloveClient(f"ws://127.0.0.1:{pub.port}") as client:
        client.wait_topics({RELATIVE})
        assert metric_t not in client.topics()  # advertised only once a frame carries metric depth
        with feeder(lambda f: pub.publish(geometry_frame(f.captured.seq)), fps=20):
            client.wait_topics({metric_t, info_t, points_t, tf_t})
            schemas = {t: c["schemaName"] for t, c in client.topics().items()}
            assert (schemas[metric_t], schemas[info_t], schemas[points_t], schemas[tf_t]) == (
                "foxglove.RawImage", "foxglove.CameraCalibration", "foxglove.PointCloud", "foxglove.FrameTransforms")
            client.subscribe([metric_t, info_t, points_t, tf_t])
            got = client.collect({metric_t: 2, info_t: 2, points_t: 2, tf_t: 1})
    ref = geometry_frame(0)
    cam, mount = ref.camera, ref.mount
    info = got[info_t][0].message
    assert (info.width, info.height, info.frame_id) == (32, 24, ROS.frame_id)
    assert list(info.K) == [cam.fx, 0.0, cam.cx, 0.0, cam.fy, cam.cy, 0.0, 0.0, 1.0]
    assert list(info.D) == list(cam.distortion) and info.distortion_model == "plumb_bob"
    m = got[metric_t][0].message
    metric = np.frombuffer(m.data, "<f4").reshape(24, 32)
    np.testing.assert_array_equal(metric, ref.metric)  # NaN and +inf travel as they are (REP 118)
    cloud = got[points_t][0].message
    assert cloud.point_stride == 16 and [f.name for f in cloud.fields] == ["x", "y", "z", "red", "green", "blue",
                                                                          "alpha"]
    pts = np.frombuffer(cloud.data, np.dtype([("xyz", "<f4", 3), ("rgba", "u1", 4)]))
    expected = backproject(ref.metric, cam, stride=2, bgr=ref.captured.image)
    assert len(pts) == len(expected) and len(pts) < (24 // 2) * (32 // 2)  # the NaN/inf pixels were dropped
    np.testing.assert_allclose(pts["xyz"], expected.xyz, rtol=1e-6)  # the metric map is the same every frame
    grey = pts["rgba"][0, 0]
    assert (pts["rgba"] == [grey, grey, grey, 255]).all()  # each point coloured from the captured frame
    tf = got[tf_t][0].message.transforms[0]
    (tx, ty, tz), (qx, qy, qz, qw) = mount.transform()
    assert (tf.parent_frame_id, tf.child_frame_id) == (ROS.parent_frame_id, ROS.frame_id)
    np.testing.assert_allclose([tf.translation.x, tf.translation.y, tf.translation.z], [tx, ty, tz])
    np.testing.assert_allclose([tf.rotation.x, tf.rotation.y, tf.rotation.z, tf.rotation.w], [qx, qy, qz, qw])


@pytest.mark.serial  # compares the publisher's rate with the feeder's
def test_a_flooding_client_does_not_slow_the_publisher(foxglove, feeder):
    """Clients that flood the server with subscribe/unsubscribe requests (and reconnect when the server drops them)
    while frames flow: the publisher keeps sending at the feeder's rate and a well-behaved client keeps receiving
    fresh, ordered frames."""
    pub = foxglove()
    url = f"ws://127.0.0.1:{pub.port}"
    stop = threading.Event()
    floods = [0]

    def spam() -> None:
        while not stop.is_set():
            try:
                with FoxgloveClient(url) as flood:
                    flood.wait_topics({COLOR, RELATIVE})
                    ids = [c["id"] for c in flood.channels.values()]
                    n = 0
                    while not stop.is_set():
                        n += 1
                        flood.ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                            {"id": n, "channelId": ids[n % len(ids)]}]}))
                        flood.ws.send(json.dumps({"op": "unsubscribe", "subscriptionIds": [n]}))
                        floods[0] += 2
            except Exception:  # the server may close a client that floods it: come back
                time.sleep(0.01)

    with FoxgloveClient(url) as reader:
        reader.wait_topics({RELATIVE})
        reader.subscribe([RELATIVE])
        with feeder(pub.publish, fps=50) as feed:
            thread = threading.Thread(target=spam, daemon=True)
            thread.start()
            try:
                got = reader.collect({RELATIVE: 40}, timeout=30)[RELATIVE]
            finally:
                stop.set()
                thread.join(5)
        sent, fed = pub.sent, feed.count
    assert floods[0] > 1000  # it really flooded
    assert pub.errors == 0 and sent >= 0.5 * fed, (sent, fed)
    seqs = [round(float(np.frombuffer(m.message.data, "<f4")[0])) for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_a_publisher_error_becomes_a_problem_notice_and_goes_away(foxglove):
    """A recorder's write error (in /stats) shows in the Foxglove app as an error notice, and is removed once mended."""
    error = ["recording stopped: writing x failed: [Errno 28] No space left on device"]
    stats = lambda: {"publishers": {"recorder": {"state": "error" if error[0] else "recording",  # noqa: E731
                                                 "error": error[0]}}}
    pub = foxglove(status_interval_s=0.1, status=CallableStatus(stats=stats))
    with FoxgloveClient(f"ws://127.0.0.1:{pub.port}") as client:
        client.wait_status(lambda s: "recorder" in s)
        notice = client.statuses["recorder"]
        assert notice["level"] == 2 and "No space left on device" in notice["message"]  # 2 = error
        error[0] = ""
        client.wait_status(lambda s: "recorder" not in s)
