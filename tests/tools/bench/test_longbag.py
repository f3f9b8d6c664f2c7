"""bench batch --long-bag-minutes: its synthetic bag is a real rosbag2 (read back by rosbags) of panning frames at
their stamps, and the phase runs `batch` three times and reports each worker's RSS (the figures themselves are the
coordinator's to take, on the real lengths)."""
from __future__ import annotations

import numpy as np
from rosbags.rosbag2 import Reader

from streamer.record.messages import TYPESTORE
from streamer.tools.bench.longbag import T0, TOPIC, bench_long_bag, write_long_bag
from tests.conftest import SEED_WEIGHTS


def test_the_long_bag_is_frames_at_their_stamps(tmp_path):
    assert write_long_bag(tmp_path / "bag", seconds=3.0, fps=12.5, width=160, height=120) == 38
    frames, stamps, logs = [], [], []
    with Reader(tmp_path / "bag") as reader:
        for conn, log_ns, data in reader.messages():
            assert conn.topic == TOPIC
            msg = TYPESTORE.deserialize_cdr(data, conn.msgtype)
            assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 160, 120, 480)
            frames.append(msg.data.reshape(120, 160, 3))
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            logs.append(log_ns)
    assert stamps == logs == [T0 + i * 80_000_000 for i in range(38)]
    assert all(not np.array_equal(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True))  # it pans
    assert np.array_equal(frames[1][:, :-2], frames[0][:, 2:])  # two pixels a frame


def test_the_phase_reports_each_workers_rss():
    result = bench_long_bag(str(SEED_WEIGHTS), "fp32", minutes=0.2)
    runs = result["runs"]
    assert [(name, r["minutes"], r["units"]) for name, r in runs.items()] == \
        [("short", 0.05, 1), ("long", 0.2, 1), ("long_segments", 0.2, 1)]
    for r in runs.values():
        assert len(r["worker_peak_mb"]) == 1 and r["worker_peak_mb"][0] > 50, r  # one worker, a model in it
        assert all(w <= r["worker_peak_mb"][0] for w in r["worker_working_mb"]), r
        assert r["driver_peak_mb"] > 20
    assert result["frame_mb"] > 160 * 120 * 3 / 2**20  # the picture and its depth map
    assert isinstance(result["met"], bool)
