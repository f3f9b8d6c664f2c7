"""BagSource on broken bags (issue 26 B7, B8, B11): real bags written with rosbags, then damaged the way disks and
other programs damage them. Nothing is replayed or retried forever: a bag that cannot be read past a point fails
once naming the bag, the topic and the message (a looping one counts a skip and starts over); garbage messages are
skipped and counted; a picture over `[source] max_pixels` is refused from its header, before it takes memory."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from mcap.writer import CompressionType
from mcap_ros2.writer import Writer as McapRos2Writer
from rosbags.rosbag2 import StoragePlugin, Writer
from source_helpers import drain
from test_bag import PERIOD, T0, TS, image_msg, picture, write_bag

from streamer.sources import SourceOptions, create_source


def corrupt_middle(bag: Path, size: int = 8192) -> Path:
    """`size` random bytes over the middle of the bag's storage file (a torn write, a bad sector)."""
    (storage,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
    data = bytearray(storage.read_bytes())
    mid = len(data) // 2
    data[mid - size // 2: mid + size // 2] = np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes()
    storage.write_bytes(bytes(data))
    return bag


def png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height zero pixels: a few hundred kB that decode to width * height * 3 bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    z = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the row
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def bag_of(path: Path, messages: list[bytes], msgtype: str = "sensor_msgs/msg/Image") -> Path:
    """A rosbag2 (MCAP) with these serialised messages on /cam, in order."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/cam", msgtype, typestore=TS)
        for i, raw in enumerate(messages):
            writer.write(conn, int((T0 + i * PERIOD) * 1e9), raw)
    return path


def good(i: int, encoding: str = "bgr8") -> bytes:
    msgtype = "sensor_msgs/msg/CompressedImage" if encoding == "jpeg" else "sensor_msgs/msg/Image"
    return TS.serialize_cdr(image_msg(i, encoding, T0 + i * PERIOD), msgtype)


def play(url: str, running, **kw):
    source = create_source(SourceOptions(url=url, pace=False, backoff=(0.05,), **kw), lossless=True)
    running(source)
    return source, drain(source, timeout=20)


def test_a_bag_unreadable_past_a_point_fails_once_naming_bag_topic_and_message(tmp_path, running):
    bag = corrupt_middle(write_bag(tmp_path / "bag", "bgr8", count=20, storage=StoragePlugin.SQLITE3))
    source, frames = play(f"bag://{bag}?topic=/camera/image_raw", running)
    s = source.status()
    assert 0 < len(frames) < 20 and s.state == "failed" and s.reconnects == 0, (len(frames), s)
    assert str(bag) in s.reason and "/camera/image_raw" in s.reason and "cannot read past message" in s.reason
    assert "CorruptError" in s.reason


def test_a_looping_bag_unreadable_past_a_point_counts_skips_and_never_backs_off(tmp_path, running):
    bag = corrupt_middle(write_bag(tmp_path / "bag", "bgr8", count=20, storage=StoragePlugin.SQLITE3))
    source = create_source(SourceOptions(url=f"bag://{bag}?topic=/camera/image_raw", pace=False, loop=True),
                           lossless=True)
    running(source)
    seen = [source.frames.get(timeout=5.0) for _ in range(40)]  # several passes over the good part
    assert all(f is not None for f in seen)
    s = source.status()
    assert s.state == "live" and s.reconnects == 0 and s.decode_errors >= 2
    assert "cannot read past message" in s.last_error and "/camera/image_raw" in s.last_error


def test_garbage_messages_are_skipped_after_a_good_frame_and_fail_at_once_before_any(tmp_path, running):
    garbage = np.random.default_rng(1).integers(0, 256, 600, np.uint8).tobytes()
    bag = bag_of(tmp_path / "after", [good(0), garbage, good(2), b"\x00\x01\x00\x00" + garbage, good(4)])
    source, frames = play(f"bag://{bag}?topic=/cam", running)
    s = source.status()
    assert len(frames) == 3 and s.state == "ended" and s.decode_errors == 2 and s.reconnects == 0, s
    np.testing.assert_array_equal(frames[2].image, picture(4))
    assert "/cam message 4" in s.last_error
    first = bag_of(tmp_path / "first", [garbage, good(1)])
    source, frames = play(f"bag://{first}?topic=/cam", running)
    s = source.status()
    assert not frames and s.state == "failed" and s.reconnects == 0 and "/cam message 1" in s.reason, s


def test_a_png_bomb_is_refused_from_its_header_before_decoding(tmp_path, running):
    header = TS.types["std_msgs/msg/Header"](stamp=TS.types["builtin_interfaces/msg/Time"](sec=int(T0), nanosec=0),
                                             frame_id="cam")
    bomb = TS.types["sensor_msgs/msg/CompressedImage"](header=header, format="png", data=np.frombuffer(
        png_bomb(9000, 9000), np.uint8))  # 81 MP: over the default 8192 x 8192 (67 MP), 243 MB once decoded
    raw = TS.serialize_cdr(bomb, "sensor_msgs/msg/CompressedImage")
    bag = bag_of(tmp_path / "bomb", [good(0, "jpeg"), raw, good(2, "jpeg")], "sensor_msgs/msg/CompressedImage")
    source, frames = play(f"bag://{bag}?topic=/cam", running)
    s = source.status()
    assert len(frames) == 2 and s.decode_errors == 1 and s.state == "ended", s
    assert "9000x9000 PNG image is over [source] max_pixels = 67108864" in s.last_error
    source, frames = play(f"bag://{bag}?topic=/cam", running, max_pixels=64 * 48 - 1)  # the limit is the option's
    assert not frames and source.status().state == "failed" and "max_pixels = 3071" in source.status().reason


def crc_checked_mcap(path: Path, count: int) -> Path:
    """A bare MCAP as `ros2 bag record` writes them (chunk CRCs on; rosbags' own writer leaves them 0), written by
    mcap-ros2-support, small chunks so a damaged one leaves good ones before it, no compression so the damage lands
    in message bytes."""
    with path.open("wb") as f:
        writer = McapRos2Writer(f, chunk_size=4096, compression=CompressionType.NONE)
        msgdef, _ = TS.generate_msgdef("sensor_msgs/msg/Image", ros_version=2)
        schema = writer.register_msgdef("sensor_msgs/msg/Image", msgdef)
        for i in range(count):
            msg = image_msg(i, "bgr8", T0 + i * PERIOD)
            writer.write_message("/cam", schema, {
                "header": {"stamp": {"sec": msg.header.stamp.sec, "nanosec": msg.header.stamp.nanosec},
                           "frame_id": "cam"},
                "height": msg.height, "width": msg.width, "encoding": "bgr8", "is_bigendian": 0, "step": msg.step,
                "data": msg.data.tobytes()}, log_time=int((T0 + i * PERIOD) * 1e9))
        writer.finish()
    return path


def test_random_bytes_inside_an_mcap_chunk_end_the_bag_at_that_chunk(tmp_path, running):
    # issue 26 B10: chunk CRCs were never checked, the damaged pictures played as if nothing happened
    storage = crc_checked_mcap(tmp_path / "robot.mcap", 12)
    data = bytearray(storage.read_bytes())
    at = int(len(data) * 0.5)
    data[at: at + 64] = bytes(64)  # 64 zero bytes in the pixels of a message half way in
    storage.write_bytes(bytes(data))
    source, frames = play(f"bag://{storage}?topic=/cam", running)
    s = source.status()
    assert 0 < len(frames) < 12 and s.state == "failed" and s.reconnects == 0, (len(frames), s)
    assert f"cannot read past message {len(frames)}" in s.reason and "crc" in s.reason.lower(), s.reason


def test_a_truncated_mcap_and_a_broken_metadata_yaml_say_so_in_one_line(tmp_path, running):
    # issue 26 B4 (say it is truncated and offer the repair), B6 (no five lines of YAML)
    cut = write_bag(tmp_path / "cut", "bgr8", count=6)
    (storage,) = cut.glob("*.mcap")
    storage.write_bytes(storage.read_bytes()[:-200])
    source, frames = play(f"bag://{cut}?topic=/camera/image_raw", running)
    reason = source.status().reason
    assert not frames and source.status().state == "failed" and "truncated" in reason, reason
    assert f"depth-streamer repair {cut}" in reason and "\n" not in reason
    yaml = write_bag(tmp_path / "yaml", "bgr8", count=2)
    (yaml / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: [9\n  storage: {{{\n")
    source, frames = play(f"bag://{yaml}?topic=/camera/image_raw", running)
    reason = source.status().reason
    assert not frames and "metadata.yaml cannot be read" in reason and "\n" not in reason, reason
