"""A real daemon with [foxglove] and [record] on: a real Foxglove WebSocket client gets every channel; SIGKILL in the
middle of a recording loses at most the open split, and the next start repairs it and says so; a recording played
back as a `bag://` source carries the recording's stamps; a folder the daemon cannot write is an error on every
channel while the live outputs keep running."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader

from streamer.publish.topics import RosOptions
from streamer.record.messages import TYPESTORE
from streamer.record.splits import list_splits
from streamer.tools.foxglove_client import FoxgloveClient
from streamer.tools.measure import free_port
from tests.conftest import MIDAS

from .harness import REALSHORT

ROS = RosOptions()


def record_args(folder: Path, *extra: str) -> list[str]:
    return ["--set", "record.enabled=true", "--set", f"record.dir={folder}", "--set", "record.split_s=4",
            "--set", "record.max_fps=0", *extra]


def read_both(split: Path) -> int:
    """Every message of a split, deserialised by rosbags and by the mcap package; they must agree. Returns the count."""
    with Reader(split) as reader:
        by_rosbags = [(c.topic, t) for c, t, raw in reader.messages()
                      if TYPESTORE.deserialize_cdr(raw, c.msgtype) is not None]
    (file,) = split.glob("*.mcap")
    with file.open("rb") as f:
        by_mcap = [(ch.topic, m.log_time) for _, ch, m, ros in
                   make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages() if ros is not None]
    assert by_rosbags == by_mcap and by_rosbags
    return len(by_rosbags)


def recorder_stats(daemon) -> dict:
    stats = daemon.stats_or_none()
    return stats["publishers"]["recorder"] if stats else {}


def test_foxglove_live_and_sigkill_mid_recording(spawn, tmp_path):
    folder = tmp_path / "rec"
    port = free_port()
    daemon = spawn(*record_args(folder, "--set", "source.loop=true", "--set", "foxglove.enabled=true",
                                "--set", f"foxglove.port={port}"), source=REALSHORT)
    daemon.wait_healthy()
    assert any(f"ws://127.0.0.1:{port}" in line and "app.foxglove.dev" in line for line in daemon.lines())
    color, relative, status = ROS.topic("color"), ROS.topic("relative"), ROS.topic("status")
    with FoxgloveClient(f"ws://127.0.0.1:{port}", timeout=30) as client:
        client.wait_topics({color, relative, status})
        client.subscribe(sorted(client.topics()))  # every channel the daemon advertises
        got = client.collect({color: 3, relative: 3, status: 1}, timeout=60)
    depth = got[relative][-1].message
    assert depth.encoding == "32FC1" and (depth.width, depth.height) == (256, 192)
    assert np.isfinite(np.frombuffer(depth.data, "<f4")).all()
    assert got[status][-1].message["stats"]["frames_out"] > 0
    assert daemon.stats()["publishers"]["foxglove-publisher"]["sent"] >= 3

    # Recording: wait for a closed split and for the open one to hold written chunks, then kill -9.
    daemon.wait_for(lambda: recorder_stats(daemon).get("splits_closed", 0) >= 1, 90, "a closed split")

    def open_has_data() -> bool:  # and is young enough not to be closed before the kill lands
        rec = recorder_stats(daemon)
        files = list((folder / rec["split"]).glob("*.mcap"))
        return bool(files) and files[0].stat().st_size > 100_000 and (rec["split_age_s"] or 99) < 2.5
    daemon.wait_for(open_has_data, 90, "data in the open split")
    daemon.send(signal.SIGKILL)
    assert daemon.wait_exit(10) == -signal.SIGKILL
    splits = list_splits(folder)
    unclosed = [s for s in splits if not s.closed]
    assert len(unclosed) == 1 and unclosed[0] == splits[-1], [s.path.name for s in splits]  # only the open one
    torn = unclosed[0].path
    torn_size = next(torn.glob("*.mcap")).stat().st_size
    for split in splits[:-1]:
        read_both(split.path)  # everything closed before the kill is intact

    # The next start repairs the torn split and says so in the log and in /stats.
    again = spawn(*record_args(folder), source=REALSHORT)
    line = again.wait_log(r"was not closed .*(repaired|set aside)", 120)
    assert torn.name in line
    again.wait_for(lambda: recorder_stats(again).get("repaired"), 30, "/stats recorder.repaired")
    assert again.wait_exit(120) == 0  # realshort ends: a clean exit closes the last split
    for split in list_splits(folder):
        if not split.path.name.endswith(".unreadable"):
            assert split.closed and read_both(split.path) > 0
    if torn_size > 100_000:  # it held at least one whole chunk (rosbags writes 1 MiB chunks, zstd-compressed)
        assert "repaired" in line and (torn / "metadata.yaml").is_file()


def test_a_recording_replayed_as_a_source_keeps_its_stamps(spawn, tmp_path):
    folder = tmp_path / "rec"
    first = spawn(*record_args(folder, "--set", "record.split_s=600"), source=REALSHORT)
    assert first.wait_exit(120) == 0
    (split,) = list_splits(folder)
    with Reader(split.path) as reader:
        conns = [c for c in reader.connections if c.topic == ROS.topic("color")]
        stamps = [t for _, t, _ in reader.messages(connections=conns)]
    assert stamps
    replay = spawn("--set", "source.pace=false", source=f"bag://{split.path}?topic={ROS.topic('color')}")
    header = json.loads(replay.next_message(b"depth", timeout_s=120)[1])
    # The recorded capture time (float seconds carry it to well under a microsecond), not the replay's "now".
    assert any(abs(header["capture_wall"] * 1e9 - s) < 1e3 for s in stamps), (header["capture_wall"], stamps[:3])


def test_an_unwritable_folder_is_an_error_on_every_channel_and_live_goes_on(spawn):
    port = free_port()
    daemon = spawn(*record_args(Path("/sys/depth-streamer-cannot-write")), "--set", "source.loop=true",
                   "--set", "foxglove.enabled=true", "--set", f"foxglove.port={port}", source=REALSHORT)
    daemon.wait_healthy()
    daemon.wait_for(lambda: recorder_stats(daemon).get("state") == "error", 60, "recorder state error")
    rec = recorder_stats(daemon)
    assert "/sys/depth-streamer-cannot-write" in rec["error"] and "live outputs continue" in rec["error"]
    status = json.loads(daemon.next_message(b"status", timeout_s=30)[2])  # the ZeroMQ status heartbeat
    assert status["stats"]["publishers"]["recorder"]["state"] == "error"
    _, _, metrics = daemon.http("/metrics")
    assert b"depth_streamer_recording_ok" in metrics and 'depth_streamer_recording_ok{camera="camera0"} 0.0' in \
        metrics.decode()
    assert any("recording stopped" in line for line in daemon.lines())
    with FoxgloveClient(f"ws://127.0.0.1:{port}", timeout=30) as client:  # the Foxglove app's problem notice
        client.wait_status(lambda s: "recorder" in s)
        assert client.statuses["recorder"]["level"] == 2 and "cannot-write" in client.statuses["recorder"]["message"]
    before = daemon.frames_out()
    daemon.wait_for(lambda: daemon.frames_out() > before + 5, 60, "live frames after the recording error")
    assert daemon.stats()["publishers"]["recorder"]["dropped"] > 0


def test_demo_with_metric_depth_gives_foxglove_every_geometry_channel(spawn):
    """The demo source knows its camera and mount: with [metric] mode = ground, Foxglove gets metric depth,
    calibration, the point cloud and the mount's transform, each decoded with its advertised schema."""
    port = free_port()
    daemon = spawn("--weights", str(MIDAS / "trained_proxy.pt"),  # a floor fit needs depth that resembles depth
                   "--set", "metric.mode=ground", "--set", "foxglove.enabled=true", "--set", f"foxglove.port={port}",
                   source="demo")
    daemon.wait_healthy()
    names = {k: ROS.topic(k) for k in ("metric", "camera_info", "points", "tf", "relative")}
    with FoxgloveClient(f"ws://127.0.0.1:{port}", timeout=60) as client:
        client.wait_topics(set(names.values()))
        client.subscribe(sorted(names.values()))
        got = client.collect({t: 1 for t in names.values()}, timeout=90)
    info = got[names["camera_info"]][0].message
    metric = got[names["metric"]][0].message
    assert (info.width, info.height) == (metric.width, metric.height) == (256, 192)  # scaled to the depth map
    assert info.K[0] > 0 and 0 < info.K[2] < 256 and 0 < info.K[5] < 192
    z = np.frombuffer(metric.data, "<f4")
    assert np.isfinite(z).mean() > 0.5 and np.nanmedian(z[np.isfinite(z)]) > 0  # metres, mostly valid
    cloud = got[names["points"]][0].message
    assert cloud.point_stride == 16 and len(cloud.data) // 16 > 1000
    tf = got[names["tf"]][0].message.transforms[0]
    assert (tf.parent_frame_id, tf.child_frame_id) == (ROS.parent_frame_id, ROS.frame_id) and tf.translation.z > 0
