"""BagSource on bags the tests write: rosbag2 with MCAP and sqlite3 storage (rosbags' Writer) and a bare MCAP file
written by another library (mcap-ros2-support); Image in rgb8, bgr8, mono8, yuv422, and CompressedImage; the
recording's stamps in capture_wall; lossless unpaced play, paced play, looping; clear errors for a wrong topic."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from mcap_ros2.writer import Writer as McapRos2Writer
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from source_helpers import drain

from streamer.core.frame import CapturedFrame
from streamer.sources import BagSource, SourceOptions, create_source
from streamer.sources.options import url_problem

TS = get_typestore(Stores.ROS2_HUMBLE)
T = TS.types
W, H = 64, 48
T0 = 1_700_000_000.25  # the recording's own clock: a robot's run months ago
PERIOD = 0.05


def picture(i: int) -> np.ndarray:
    """BGR: four flat quadrants (red, green, blue, grey) whose grey level carries the frame index."""
    img = np.empty((H, W, 3), np.uint8)
    img[: H // 2, : W // 2] = (0, 0, 200)
    img[: H // 2, W // 2:] = (0, 200, 0)
    img[H // 2:, : W // 2] = (200, 0, 0)
    img[H // 2:, W // 2:] = 10 * i + 20
    return img


def uyvy(bgr: np.ndarray) -> np.ndarray:
    """ROS `yuv422` (UYVY) bytes of a BGR image: BT.601 studio range (Y 16..235), what cameras send."""
    b, g, r = (bgr[..., k].astype(np.float64) / 255.0 for k in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    out = np.empty((H, W * 2), np.uint8)
    out[:, 0::4] = ((u[:, 0::2] + u[:, 1::2]) / 2).round()
    out[:, 1::4] = y[:, 0::2]
    out[:, 2::4] = ((v[:, 0::2] + v[:, 1::2]) / 2).round()
    out[:, 3::4] = y[:, 1::2]
    return out


def image_msg(i: int, encoding: str, stamp: float):
    bgr = picture(i)
    pixels = {"rgb8": bgr[..., ::-1], "bgr8": bgr, "mono8": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
              "yuv422": uyvy(bgr), "jpeg": bgr}[encoding]
    data = np.ascontiguousarray(pixels).reshape(-1)
    sec, nanosec = int(stamp), round((stamp - int(stamp)) * 1e9)
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                      frame_id="cam")
    if encoding == "jpeg":
        _, jpg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        return T["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg", data=jpg.reshape(-1))
    return T["sensor_msgs/msg/Image"](header=header, height=H, width=W, encoding=encoding, is_bigendian=0,
                                      step=data.size // H, data=data)


def write_bag(path: Path, encoding: str, count: int = 6, storage=StoragePlugin.MCAP) -> Path:
    msgtype = "sensor_msgs/msg/CompressedImage" if encoding == "jpeg" else "sensor_msgs/msg/Image"
    with Writer(path, version=9, storage_plugin=storage) as writer:
        conn = writer.add_connection("/camera/image_raw", msgtype, typestore=TS)
        other = writer.add_connection("/imu", "std_msgs/msg/String", typestore=TS)  # not an image: ignored
        for i in range(count):
            stamp = T0 + i * PERIOD
            msg = image_msg(i, encoding, stamp)
            # The bag's receive time lags the header stamp: the source must use the header's.
            writer.write(conn, int((stamp + 0.5) * 1e9), TS.serialize_cdr(msg, msgtype))
            writer.write(other, int((stamp + 0.5) * 1e9), TS.serialize_cdr(T["std_msgs/msg/String"](data="x"),
                                                                              "std_msgs/msg/String"))
    return path


def play(url: str, running, **kw) -> tuple[BagSource, list[CapturedFrame]]:
    # lossless, as the pipeline makes unpaced bags: every frame, in order
    source = create_source(SourceOptions(url=url, pace=kw.pop("pace", False), backoff=(0.1,), **kw), lossless=True)
    assert isinstance(source, BagSource) and source.lossless
    running(source)
    return source, drain(source, timeout=20)


@pytest.mark.parametrize("encoding, tol", [("rgb8", 0), ("bgr8", 0), ("mono8", 2), ("yuv422", 6), ("jpeg", 8)])
def test_every_image_encoding_becomes_the_same_bgr_picture(tmp_path, running, encoding, tol):
    bag = write_bag(tmp_path / "bag", encoding)
    source, frames = play(f"bag://{bag}?topic=/camera/image_raw", running)
    assert [f.seq for f in frames] == list(range(6)) and source.stats.state == "ended"
    for i, frame in enumerate(frames):
        want = picture(i)
        if encoding == "mono8":
            want = cv2.cvtColor(cv2.cvtColor(want, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        assert frame.image.shape == (H, W, 3) and frame.image.dtype == np.uint8 and frame.image.flags.c_contiguous
        err = np.abs(frame.image.astype(int) - want.astype(int))
        err[H // 2 - 8: H // 2 + 8] = err[:, W // 2 - 8: W // 2 + 8] = 0  # JPEG's 8x8 blocks smear the edges
        assert err.max() <= tol, (encoding, i, err.max())
        assert frame.capture_wall == pytest.approx(T0 + i * PERIOD, abs=1e-6)  # the header stamp, not "now"


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_rosbag2_storages_and_the_bare_storage_file(tmp_path, running, storage):
    bag = write_bag(tmp_path / "bag", "bgr8", storage=storage)
    _, frames = play(f"bag://{bag}?topic=/camera/image_raw", running)
    assert len(frames) == 6
    (storage_file,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
    _, bare = play(f"bag://{storage_file}?topic=/camera/image_raw", running)  # no metadata.yaml needed
    assert [f.capture_wall for f in bare] == [f.capture_wall for f in frames]


def test_a_bare_mcap_from_another_writer_and_the_single_image_topic_is_found(tmp_path, running):
    path = tmp_path / "robot.mcap"
    with path.open("wb") as f:
        writer = McapRos2Writer(f)
        msgdef, _ = TS.generate_msgdef("sensor_msgs/msg/Image", ros_version=2)
        schema = writer.register_msgdef("sensor_msgs/msg/Image", msgdef)
        for i in range(4):
            msg = image_msg(i, "rgb8", T0 + i * PERIOD)
            writer.write_message("/front/image", schema, {
                "header": {"stamp": {"sec": msg.header.stamp.sec, "nanosec": msg.header.stamp.nanosec},
                           "frame_id": "cam"},
                "height": H, "width": W, "encoding": "rgb8", "is_bigendian": 0, "step": W * 3,
                "data": msg.data.tobytes()}, log_time=int((T0 + i * PERIOD) * 1e9))
        writer.finish()
    _, frames = play(f"bag://{path}", running)  # no topic: the bag has exactly one image topic
    assert len(frames) == 4
    np.testing.assert_array_equal(frames[3].image, picture(3))


def test_paced_play_keeps_the_stamps_and_loop_starts_over(tmp_path, running):
    bag = write_bag(tmp_path / "bag", "bgr8", count=4)
    source, frames = play(f"bag://{bag}?topic=/camera/image_raw", running, pace=True)
    assert [round(f.capture_wall - T0, 3) for f in frames] == [0.0, 0.05, 0.1, 0.15]
    assert all(b.capture_mono > a.capture_mono for a, b in zip(frames, frames[1:], strict=False))
    looping = create_source(SourceOptions(url=f"bag://{bag}?topic=/camera/image_raw", pace=False, loop=True),
                            lossless=True)
    running(looping)
    seen = [looping.frames.get(timeout=5.0) for _ in range(10)]
    assert all(f is not None for f in seen) and [f.seq for f in seen] == list(range(10))
    assert seen[4].capture_wall == pytest.approx(T0)  # the second pass


def test_wrong_topic_and_non_image_topic_fail_once_with_the_topics_named(tmp_path, running):
    bag = write_bag(tmp_path / "bag", "bgr8")
    source, frames = play(f"bag://{bag}?topic=/nope", running)
    assert not frames and source.stats.state == "failed"
    assert "no topic '/nope'" in source.stats.reason and "/camera/image_raw" in source.stats.reason
    source, _ = play(f"bag://{bag}?topic=/imu", running)
    assert source.stats.state == "failed" and "std_msgs/msg/String" in source.stats.reason


def test_an_unsupported_encoding_is_named(tmp_path, running):
    path = tmp_path / "bag"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/cam", "sensor_msgs/msg/Image", typestore=TS)
        msg = image_msg(0, "bgr8", T0)
        msg.encoding = "bayer_rggb8"
        writer.write(conn, int(T0 * 1e9), TS.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    source, frames = play(f"bag://{path}?topic=/cam", running)
    assert not frames and source.stats.state == "failed" and "'bayer_rggb8' is not supported" in source.stats.reason


def test_url_validation(tmp_path):
    bag = write_bag(tmp_path / "bag", "bgr8", count=1)
    assert url_problem(f"bag://{bag}?topic=/camera/image_raw") is None
    assert "no such bag" in url_problem(f"bag://{tmp_path}/missing?topic=/x")
    (tmp_path / "notes.txt").write_text("x")
    assert "not a bag" in url_problem(f"bag://{tmp_path}/notes.txt")
