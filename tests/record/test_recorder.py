"""The recorder writing real rosbag2/MCAP splits with rosbags, every split read back with rosbags' Reader AND the
`mcap` package (messages deserialised); rotation; repair of a torn split; a full disk; a queue that overflows."""
from __future__ import annotations

import dataclasses
import resource
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader

from streamer.geometry import CameraModel, Mount
from streamer.publish.topics import RosOptions
from streamer.record.messages import TYPESTORE, keep_mantissa_bits
from streamer.record.options import RecordOptions
from streamer.record.recorder import Recorder
from streamer.record.splits import list_splits, recover
from streamer.render.renderer import FrameRenderer
from tests.publish.conftest import make_frame

ROS = RosOptions()


def geometry_frame(seq: int, h: int = 48, w: int = 64):
    frame = make_frame(seq, h=h, w=w)
    dh, dw = frame.depth.shape
    metric = np.full((dh, dw), 2.0, np.float32)
    metric[0, 0] = np.nan
    return dataclasses.replace(frame, camera=CameraModel(40.0, 40.0, (dw - 1) / 2, (dh - 1) / 2, dw, dh),
                               mount=Mount(0.5, pitch_deg=10.0), metric=metric)


def record(tmp: Path, frames, fps: float = 40.0, **kw) -> Recorder:
    """Run a Recorder on `frames` published at `fps`, stop it (closing the last split), return it."""
    rec = Recorder(RecordOptions(enabled=True, dir=str(tmp), **kw), ROS, renderer=FrameRenderer())
    rec.start()
    try:
        for frame in frames:
            rec.publish(frame)
            time.sleep(1.0 / fps)
        deadline = time.monotonic() + 20
        while rec._slot.pending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert rec.stop(10.0)
    return rec


def read_rosbags(split: Path) -> list[tuple[str, int, object]]:
    with Reader(split) as reader:
        return [(c.topic, t, TYPESTORE.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]


def read_mcap(split: Path) -> list[tuple[str, int, object]]:
    (file,) = split.glob("*.mcap")
    with file.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        return [(ch.topic, msg.log_time, ros) for _, ch, msg, ros in reader.iter_decoded_messages()]


def test_splits_are_rosbag2_bags_that_both_readers_deserialise(tmp_path):
    frames = [geometry_frame(i) for i in range(60)]
    stamps = {round(f.captured.capture_wall * 1e9) for f in frames}
    rec = record(tmp_path, frames, fps=30, split_s=1.0, max_fps=0, depth_bits=23)  # exact depth
    splits = list_splits(tmp_path)
    assert len(splits) >= 2 and all(s.closed for s in splits), [s.path.name for s in splits]
    assert rec.state == "stopped" and rec.frames_recorded + rec.dropped == 60
    topics = {ROS.topic(k) for k in ("relative", "color", "camera_info", "metric", "points", "tf_static")}
    total = 0
    for split in splits:
        with Reader(split.path) as reader:  # /tf_static latched, as ros2 bag play must republish it
            (tf_conn,) = [c for c in reader.connections if c.topic == "/tf_static"]
            (qos,) = tf_conn.ext.offered_qos_profiles
            assert (qos.durability.name, qos.reliability.name, qos.depth) == ("TRANSIENT_LOCAL", "RELIABLE", 1)
        by_rosbags, by_mcap = read_rosbags(split.path), read_mcap(split.path)
        assert [(t, s) for t, s, _ in by_rosbags] == [(t, s) for t, s, _ in by_mcap]
        assert topics <= {t for t, _, _ in by_rosbags}
        assert sum(t == "/tf_static" for t, _, _ in by_rosbags) == 1  # every split is complete on its own
        for topic, stamp, msg in by_rosbags:
            if topic == ROS.topic("relative"):
                total += 1
                assert stamp in stamps  # the capture time, also as the bag's receive time
                assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp
                assert (msg.encoding, msg.header.frame_id, msg.step) == ("32FC1", ROS.frame_id, 4 * msg.width)
                depth = np.frombuffer(msg.data.tobytes(), "<f4").reshape(msg.height, msg.width)
                seq = round(float(depth[0, 0]))
                np.testing.assert_array_equal(depth, make_frame(seq).depth)
            elif topic == ROS.topic("camera_info"):
                assert list(msg.k) == [40.0, 0.0, 15.5, 0.0, 40.0, 11.5, 0.0, 0.0, 1.0] and msg.width == 32
            elif topic == ROS.topic("points"):
                assert msg.width == 16 * 12 - 1 and msg.point_step == 16  # stride 2, the NaN pixel dropped
                assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb"]
            elif topic == "/tf_static":
                tf = msg.transforms[0]
                assert (tf.header.frame_id, tf.child_frame_id) == (ROS.parent_frame_id, ROS.frame_id)
                assert tf.transform.translation.z == pytest.approx(0.5)
        for topic, _, msg in by_mcap:  # the independent decoder agrees on the content
            if topic == ROS.topic("metric"):
                assert msg.encoding == "32FC1" and np.isnan(np.frombuffer(bytes(msg.data), "<f4")[0])
    assert total == rec.frames_recorded


def test_rotation_deletes_the_oldest_splits_and_keeps_under_max_total(tmp_path):
    frames = [make_frame(i, h=240, w=320, noise=True) for i in range(90)]  # 77 kB of depth + a noisy JPEG each
    rec = record(tmp_path, frames, fps=60, split_s=3600.0, max_total_mb=1.0, max_fps=0, compression="none")
    splits = list_splits(tmp_path)
    sizes = [s.size() for s in splits]
    assert rec.splits_deleted > 0 and sum(sizes) <= 1_000_000, (rec.splits_deleted, sizes)
    indices = [s.index for s in splits]
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # the newest ones, none missing between
    assert indices[-1] == rec.splits_closed - 1
    last = read_rosbags(splits[-1].path)
    seqs = [round(float(np.frombuffer(m.data.tobytes(), "<f4")[0])) for t, _, m in last if t.endswith("inverse")]
    assert seqs and seqs[-1] == 89  # the last frame is there: a black box keeps the end


def test_a_torn_split_is_repaired_and_a_hopeless_one_set_aside(tmp_path, caplog):
    record(tmp_path, [geometry_frame(i, h=240, w=320) for i in range(30)], fps=60, split_s=3600.0,
           max_fps=0, compression="none")
    (split,) = list_splits(tmp_path)
    complete = len(read_rosbags(split.path))
    with Reader(split.path) as reader:
        offered = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    (mcap_file,) = split.path.glob("*.mcap")
    data = mcap_file.read_bytes()
    mcap_file.write_bytes(data[: int(len(data) * 0.7)])  # what a SIGKILL mid-chunk leaves: no summary, torn end
    (split.path / "metadata.yaml").unlink()
    hopeless = tmp_path / "000007_20260101T000000Z"
    hopeless.mkdir()
    (hopeless / "000007_20260101T000000Z.mcap").write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 40)
    lines = recover(tmp_path)
    assert len(lines) == 2 and any("repaired" in x for x in lines) and any("set aside" in x for x in lines)
    repaired = read_rosbags(split.path)
    with Reader(split.path) as reader:  # what the channels offered survives the repair
        assert {c.topic: c.ext.offered_qos_profiles for c in reader.connections} == offered
    assert 0 < len(repaired) < complete and repaired == sorted(repaired, key=lambda m: m[1])
    assert [(t, s) for t, s, _ in read_mcap(split.path)] == [(t, s) for t, s, _ in repaired]
    assert (tmp_path / "000007_20260101T000000Z.unreadable").is_dir() and not hopeless.exists()
    assert recover(tmp_path) == []  # nothing left to do: every split is readable or set aside


def test_a_full_disk_stops_the_recording_with_an_error_not_the_frames(tmp_path):
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG), as a full disk refuses them (ENOSPC): the recorder says
    so, counts what it loses, keeps taking frames without blocking, and starts a new split once writes work."""
    rec = Recorder(RecordOptions(enabled=True, dir=str(tmp_path), split_s=3600.0, max_fps=0, compression="none",
                                 retry_s=3.0), ROS, renderer=FrameRenderer())
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    rec.start()
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, old_limit[1]))
        for i in range(40):
            rec.publish(make_frame(i, h=240, w=320, noise=True))
            time.sleep(0.02)
            if rec.write_errors:
                break
        deadline = time.monotonic() + 10
        while not rec.write_errors and time.monotonic() < deadline:
            time.sleep(0.05)
        state, error, ok = rec.state, rec.error, rec.recording_ok()  # retry_s = 3: still in error right after
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        assert state == "error" and ok == 0 and "File too large" in error and "live outputs continue" in error
        assert "File too large" in rec.counters()["last_error"]
        for i in range(40, 60):  # the disk has room again
            rec.publish(make_frame(i, h=240, w=320, noise=True))
            time.sleep(0.05)
        deadline = time.monotonic() + 20
        while rec.state != "recording" and time.monotonic() < deadline:
            rec.publish(make_frame(99, h=240, w=320, noise=True))
            time.sleep(0.05)
        assert rec.state == "recording" and rec.recording_ok() == 1
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
        assert rec.stop(10.0)
    assert rec.published >= 41 and rec.send_drops > 0 and rec.errors == 0
    recover(tmp_path)  # the split the error interrupted, if it could not be closed
    for split in list_splits(tmp_path):
        if not split.path.name.endswith(".unreadable"):
            assert read_rosbags(split.path) is not None


def test_a_full_queue_drops_from_the_recording_and_counts_it(tmp_path):
    frames = [make_frame(i, h=480, w=640, noise=True) for i in range(40)]
    rec = Recorder(RecordOptions(enabled=True, dir=str(tmp_path), max_fps=0, queue_frames=2, compression="none"),
                   ROS, renderer=FrameRenderer())
    rec.start()
    try:
        for frame in frames:  # all at once: far faster than JPEG + disk
            rec.publish(frame)
    finally:
        deadline = time.monotonic() + 20
        while rec._slot.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.stop(10.0)
    c = rec.counters()
    assert c["queue_dropped"] > 0 and c["dropped"] == c["queue_dropped"] + rec.send_drops
    assert c["frames_recorded"] + c["dropped"] + c["skipped_max_fps"] == 40
    (split,) = list_splits(tmp_path)
    recorded = [m for t, _, m in read_rosbags(split.path) if t.endswith("inverse")]
    assert len(recorded) == c["frames_recorded"]
    seqs = [round(float(np.frombuffer(m.data.tobytes(), "<f4")[0])) for m in recorded]
    assert seqs == sorted(seqs)  # in order: a FIFO, not newest-wins


def test_max_fps_thins_the_recording(tmp_path):
    t0 = time.monotonic()
    rec = record(tmp_path, (make_frame(i) for i in range(40)), fps=40, max_fps=5.0)  # made as they are published
    elapsed = time.monotonic() - t0
    assert rec.skipped_rate > 0 and rec.frames_recorded + rec.skipped_rate + rec.dropped == 40
    assert 1 <= rec.frames_recorded <= elapsed * 5.0 + 1


def test_depth_bits_bound_the_error_and_shrink_the_bag(tmp_path):
    rng = np.random.default_rng(0)
    depth = (rng.random((192, 256)) * 50 + 0.01).astype(np.float32)
    depth[0, :3] = (np.nan, np.inf, -np.inf)
    rounded = keep_mantissa_bits(depth, 10)
    finite = np.isfinite(depth)
    assert np.max(np.abs(rounded[finite] / depth[finite] - 1)) <= 2.0 ** -11
    assert np.isnan(rounded[0, 0]) and rounded[0, 1] == np.inf and rounded[0, 2] == -np.inf
    assert keep_mantissa_bits(depth, 23) is depth
    sizes = {}
    for bits in (23, 10):
        frames = [make_frame(i, h=384, w=512, noise=True) for i in range(12)]
        frames = [dataclasses.replace(f, depth=(f.depth + rng.random(f.depth.shape, np.float32)).astype(np.float32))
                  for f in frames]  # a depth map with every mantissa bit busy, as a network's is
        record(tmp_path / str(bits), frames, fps=60, max_fps=0, depth_bits=bits, color=False)
        (split,) = list_splits(tmp_path / str(bits))
        sizes[bits] = split.size()
        for topic, _, msg in read_rosbags(split.path):
            if topic.endswith("inverse"):
                got = np.frombuffer(msg.data.tobytes(), "<f4").reshape(msg.height, msg.width)
                seq = next(f for f in frames if abs(float(f.depth[5, 5]) - float(got[5, 5])) <= 1e-3 * abs(
                    float(f.depth[5, 5])))
                assert np.max(np.abs(got / seq.depth - 1)) <= (2.0 ** -11 if bits == 10 else 0.0)
    assert sizes[10] < 0.75 * sizes[23], sizes


def test_sigma_is_recorded_beside_the_metric_image(tmp_path):
    """One sigma per metric pixel, 32FC1 metres, on the metric image's topic name + _sigma, read back by both."""
    from streamer.geometry.evidence import evidence
    from streamer.geometry.verdict import LazySigma, assess

    def with_sigma(seq: int):
        frame = geometry_frame(seq)
        depth = np.linspace(100, 900, frame.metric.size, dtype=np.float32).reshape(frame.metric.shape)
        d = np.array([150.0, 300, 450, 600, 750, 850])
        g = 1e-3 * d + 0.05 + np.array([0.01, -0.01, 0.02, 0, -0.02, 0.01])
        a = assess(evidence(depth, d, g, np.ones(6), 1e-3, 0.05, 40.0), mode="points", max_rel_error=0.25,
                   max_range_m=40.0)
        return dataclasses.replace(frame, sigma=LazySigma(a, depth, 1e-3, 0.05, frame.metric))

    frames = [with_sigma(i) for i in range(10)]
    record(tmp_path, frames, fps=30, max_fps=0, depth_bits=23)
    (split,) = list_splits(tmp_path)
    topic = ROS.topic("metric_sigma")
    assert topic == ROS.topic("metric") + "_sigma"
    expected = frames[0].sigma.get()
    for read in (read_rosbags, read_mcap):
        msgs = [m for t, _, m in read(split.path) if t == topic]
        assert msgs and all(m.encoding == "32FC1" for m in msgs)
        sigma = np.frombuffer(bytes(msgs[0].data), "<f4").reshape(msgs[0].height, msgs[0].width)
        assert np.isnan(sigma[0, 0])  # the metric map's NaN pixel has no sigma
        np.testing.assert_array_equal(sigma[1:], expected[1:])
