"""One daemon, several cameras: a real daemon with three streams (the demo, a looping file and a real RTSP server on
127.0.0.1 that is killed and restarted), read by real ZeroMQ and HTTP clients and a real sd_notify socket.

A fault stays in its stream: while the RTSP server is dead its stream shows its own no-signal frame and /healthz
names it, the other streams keep publishing, the watchdog stays fed, and the stream comes back after the restart.
"""
from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import pytest

from streamer.client import DepthSubscriber
from tests.sources.rtsp.harness import RtspServer, gst_rtsp_problem

from .harness import COCKATOO, REALSHORT, decode_jpeg, wait_until

CONFIG = """
[source]
loop = true
backoff = [0.5, 1.0]
[daemon]
warmup_timeout_s = 30
[foxglove]
enabled = false

[[streams]]
id = "front"
[streams.source]
url = "demo"
fps = 8
width = 320
height = 240

[[streams]]
id = "clip"
max_fps = 4
[streams.source]
url = "{clip}"

[[streams]]
id = "cam"
[streams.source]
url = "{rtsp}"
"""


@pytest.fixture
def camera() -> Iterator[RtspServer]:
    problem = gst_rtsp_problem()
    if problem:
        pytest.fail(f"needs Debian's GStreamer RTSP server for /usr/bin/python3 ({problem}); run `make setup`",
                    pytrace=False)
    server = RtspServer()
    try:
        yield server.start()
    finally:
        server.close()


def frames_by_stream(daemon) -> dict[str, int]:
    return {sid: s["frames_out"] for sid, s in daemon.stats()["streams"].items()}


def test_three_streams_one_network_and_a_dead_camera_stays_in_its_stream(spawn, camera, notify, tmp_path):
    config = tmp_path / "three.toml"
    config.write_text(CONFIG.format(clip=COCKATOO, rtsp=camera.url))
    daemon = spawn("--config", str(config), env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "3000000"})
    daemon.wait_healthy()
    daemon.wait_for(lambda: all(n > 2 for n in frames_by_stream(daemon).values()), 60.0, "every stream publishing")

    # One network: one model, one precision for all; every stream its own block.
    stats = daemon.stats()
    assert list(stats["streams"]) == ["front", "clip", "cam"]
    assert stats["streams"]["front"]["source"]["url"] == "demo"
    assert stats["streams"]["cam"]["source"]["url"].startswith("rtsp://127.0.0.1")
    assert stats["network"]["taken"] >= sum(frames_by_stream(daemon).values()) - 3

    # ZeroMQ: a subscriber filters by stream; the header's camera is the stream id.
    for sid in ("front", "clip", "cam"):
        with DepthSubscriber(daemon.zmq_endpoint, topics=("depth",), stream=sid) as sub:
            msg = wait_until(lambda s=sub: s.recv(timeout=0.5), 20.0, f"a depth message of {sid}")
            topic, header, depth = msg  # type: ignore[misc]
            assert topic == "depth" and header["camera"] == sid and depth.ndim == 2
    plain = daemon.messages(b"depth", 12)  # a plain prefix subscription gets every stream's
    assert {bytes(m[0]) for m in plain} >= {b"depth/front", b"depth/cam"}
    assert all(json.loads(m[1])["camera"] == bytes(m[0]).decode().split("/")[1] for m in plain)

    # HTTP: an index of every stream, and each stream's page, snapshot and stats.
    code, _, index = daemon.http("/")
    assert code == 200 and all(f'href="/s/{sid}/"'.encode() in index for sid in ("front", "clip", "cam"))
    code, _, page = daemon.http("/s/clip/")
    assert code == 200 and b"stream.mjpg" in page
    code, headers, jpeg = daemon.http("/s/front/snapshot.jpg")
    assert code == 200 and "x-seq" in headers and decode_jpeg(jpeg).ndim == 3
    code, _, body = daemon.http("/s/cam/stats")
    assert code == 200 and json.loads(body)["source"]["url"].startswith("rtsp://")
    assert daemon.http("/s/nope/stats")[0] == 404
    code, _, metrics = daemon.http("/metrics")
    for sid in ("front", "clip", "cam"):
        assert f'depth_streamer_frames_published_total{{camera="{sid}"}}'.encode() in metrics

    # One status line sums every stream.
    daemon.wait_for(lambda: any(line.startswith("STATUS=3 streams") for line in notify.lines()), 10.0,
                    "a STATUS= line for three streams")
    line = next(x for x in reversed(notify.lines()) if x.startswith("STATUS=3 streams"))
    assert all(f"{sid} " in line for sid in ("front", "clip", "cam")), line

    # The RTSP server dies: its stream says so, the others go on, the watchdog stays fed.
    camera.kill()
    killed = time.monotonic()
    code, body = wait_until(lambda: (r := daemon.http("/healthz"))[0] != 200 and (r[0], r[2].decode()), 10.0,
                            "/healthz to name the dead camera")
    assert code == 503 and "cam (" in body and "front" not in body and "clip" not in body, body
    code, headers, jpeg = daemon.http("/s/cam/snapshot.jpg")
    assert code == 503 and "offline" in headers.get("x-no-signal", "") and decode_jpeg(jpeg).ndim == 3
    assert daemon.http("/s/front/snapshot.jpg")[0] == 200
    before = frames_by_stream(daemon)
    daemon.wait_for(lambda: all(frames_by_stream(daemon)[s] > before[s] + 3 for s in ("front", "clip")), 30.0,
                    "the other streams to keep publishing while the camera is down")
    # Pings come every WATCHDOG_USEC / 2 = 1.5 s: wait for one sent after the kill, the camera still down.
    daemon.wait_for(lambda: any("WATCHDOG=1" in text and t > killed for t, text in notify.messages), 10.0,
                    "the watchdog fed while a camera is merely down")
    assert daemon.stats()["streams"]["cam"]["source"]["state"] == "offline"

    camera.restart()
    daemon.wait_for(lambda: daemon.http("/healthz")[0] == 200, 30.0, "the camera's stream back")
    cam = frames_by_stream(daemon)["cam"]
    daemon.wait_for(lambda: frames_by_stream(daemon)["cam"] > cam + 3, 30.0, "the camera's depth flowing again")
    assert daemon.stats()["streams"]["cam"]["source"]["reconnects"] >= 1
    assert daemon.alive()


def test_source_twice_runs_two_streams_and_both_files_end_losslessly(spawn, notify):
    """`run --source A --source B`: two streams cam0 and cam1 (both unpaced files: lossless, in order); the daemon
    exits when both have ended."""
    daemon = spawn("--source", str(REALSHORT), "--set", "source.pace=false", source=str(REALSHORT))
    code = daemon.proc.wait(timeout=240)  # type: ignore[union-attr]
    assert code == 0, daemon.log
    log = daemon.log
    assert "streams cam0, cam1" in log and "source ended" in log, log
    assert "after 72 depth frames" in log, log  # 36 + 36: every frame of both files, once


def streams_config(*streams: tuple[str, int]) -> str:
    text = "[source]\nfps = 8\nwidth = 320\nheight = 240\n[foxglove]\nenabled = false\n"
    return text + "".join(f'\n[[streams]]\nid = "{sid}"\n[streams.source]\nurl = "demo"\ndemo_seed = {seed}\n'
                          for sid, seed in streams)


def newest_seq(daemon, sid: str) -> int:
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth",), stream=sid) as sub:
        msg = wait_until(lambda: sub.recv(timeout=0.5), 20.0, f"a depth frame of {sid}")
        return int(msg[1]["seq"])  # type: ignore[index]


def test_sighup_keeps_unchanged_streams_starts_added_stops_removed_and_refuses_invalid(spawn, tmp_path):
    path = tmp_path / "streams.toml"
    path.write_text(streams_config(("a", 0), ("b", 1)))
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    daemon.wait_for(lambda: set(frames_by_stream(daemon)) == {"a", "b"}, 30.0, "streams a and b")
    seq_before = newest_seq(daemon, "a")
    uptime_before = daemon.stats()["streams"]["a"]["uptime_s"]

    tmp = path.with_suffix(".tmp")
    tmp.write_text(streams_config(("a", 0), ("c", 2)))  # a unchanged, b removed, c added
    tmp.replace(path)
    mark = daemon.log_lines
    daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    daemon.wait_log(r"streams kept running: a$", 60.0, after=mark)
    daemon.wait_log(r"configuration reloaded", 60.0, after=mark)
    daemon.wait_for(lambda: set(frames_by_stream(daemon)) == {"a", "c"}, 30.0, "streams a and c")
    daemon.wait_for(lambda: frames_by_stream(daemon)["c"] > 2, 60.0, "the added stream publishing")
    # a was never restarted: its source's frame numbers and its counters ran on through the reload
    assert newest_seq(daemon, "a") > seq_before
    assert daemon.stats()["streams"]["a"]["uptime_s"] > uptime_before
    assert daemon.http("/s/b/stats")[0] == 404 and daemon.http("/s/c/stats")[0] == 200

    path.write_text(streams_config(("a", 0), ("c", 2)) + '\n[[streams]]\nid = "a"\n')  # a duplicate id
    mark = daemon.log_lines
    daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    daemon.wait_log(r"reload refused.*streams\[2\] \(a\): id 'a' is already", 30.0, after=mark)
    seq = newest_seq(daemon, "a")
    assert newest_seq(daemon, "c") >= 0 and newest_seq(daemon, "a") > seq and daemon.alive()


def test_foxglove_channels_and_one_bag_per_daemon_under_each_streams_namespace(spawn, tmp_path):
    from rosbags.rosbag2 import Reader

    from streamer.record.messages import TYPESTORE
    from streamer.record.splits import list_splits
    from streamer.tools.foxglove_client import FoxgloveClient
    from streamer.tools.measure import free_port

    port, folder = free_port(), tmp_path / "rec"
    path = tmp_path / "two.toml"
    path.write_text(streams_config(("front", 0), ("rear", 3)).replace("enabled = false", f"enabled = true\nport = "
                                                                      f"{port}")
                    + f'\n[record]\nenabled = true\ndir = "{folder}"\nsplit_s = 3\nmax_fps = 0\n')
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    wanted = {f"/{sid}/{kind}" for sid in ("front", "rear") for kind in ("depth/relative_inverse", "status")}
    with FoxgloveClient(f"ws://127.0.0.1:{port}", timeout=30) as client:
        client.wait_topics(wanted | {"/tf"})
        client.subscribe(sorted(client.topics()))
        got = client.collect({topic: 2 for topic in wanted}, timeout=90)
    assert got["/front/status"][-1].message["stats"]["source"]["url"] == "demo"
    assert {m.message.frame_id for m in got["/rear/depth/relative_inverse"]} == {"rear_optical_frame"}  # type: ignore[attr-defined]
    daemon.wait_for(lambda: any(s.closed for s in list_splits(folder)), 90, "a closed split")
    split = next(s for s in list_splits(folder) if s.closed)
    with Reader(split.path) as reader:
        frames = {}
        for conn, _, raw in reader.messages():
            msg = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
            if conn.topic.endswith("/depth/relative_inverse"):
                frames.setdefault(conn.topic, set()).add(msg.header.frame_id)
            if conn.topic == "/tf_static":
                frames.setdefault("/tf_static", set()).update(t.child_frame_id for t in msg.transforms)
    assert frames["/front/depth/relative_inverse"] == {"front_optical_frame"}
    assert frames["/rear/depth/relative_inverse"] == {"rear_optical_frame"}
    assert frames["/tf_static"] == {"front_optical_frame", "rear_optical_frame"}  # each mount's transform


def test_imagezmq_carries_every_stream_each_frame_named_by_its_stream(spawn, tmp_path):
    import imagezmq

    path = tmp_path / "two.toml"
    path.write_text(streams_config(("front", 0)) + '\n[[streams]]\nid = "rear"\n[streams.source]\nurl = "demo"\n'
                    'demo_seed = 3\nwidth = 480\nheight = 360\n')  # front at 320x240, rear at 480x360
    daemon = spawn("--config", str(path), "--set", "daemon.imagezmq=true")
    daemon.wait_healthy()
    hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{daemon.imagezmq_port}", REQ_REP=False)
    shapes: dict[str, set] = {}
    try:
        deadline = time.monotonic() + 60.0
        while set(shapes) != {"front", "rear"}:
            assert time.monotonic() < deadline, f"imagezmq frames of front and rear; got {shapes}"
            assert hub.zmq_socket.poll(20000), f"no imagezmq frame within 20 s; got {shapes}"
            msg, jpg = hub.recv_jpg()
            shapes.setdefault(msg, set()).add(decode_jpeg(jpg).shape)
    finally:
        hub.close()
    assert set(shapes) == {"front", "rear"}, shapes  # only the stream ids, as imagezmq senders' names
    assert shapes == {"front": {(240, 320, 3)}, "rear": {(360, 480, 3)}}, shapes  # each name on its own frames
    streams = daemon.stats()["streams"]
    assert all(streams[sid]["publishers"][f"imagezmq-{sid}"]["sent"] > 0 for sid in ("front", "rear")), streams
