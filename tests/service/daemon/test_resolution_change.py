"""A stream that changes resolution mid-stream: the daemon follows it (network size, depth, colour), no restart."""
from __future__ import annotations

import time
from pathlib import Path

from streamer.client import DepthSubscriber
from tests.sources.source_helpers import write_video

from .harness import decode_jpeg


def _joined_stream(tmp_path: Path) -> Path:
    # MPEG-TS segments may simply be concatenated: the decoder meets a new SPS with the new size mid-stream.
    big = write_video(tmp_path / "a.ts", width=640, height=480, frames=45, fps=30)
    small = write_video(tmp_path / "b.ts", width=320, height=180, frames=45, fps=30)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(big.read_bytes() + small.read_bytes())
    return joined


def test_depth_follows_a_resolution_change(spawn, tmp_path):
    daemon = spawn("--set", "source.loop=true", source=_joined_stream(tmp_path))
    daemon.wait_healthy()
    depth_shapes, color_shapes = set(), set()
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth", "color")) as sub:
        deadline = time.monotonic() + 60
        # 640x480 -> network 256x192; 320x180 -> 256x128 (144/32 = 4.5 rounds half to even, as the official code)
        while time.monotonic() < deadline and not {(192, 256), (128, 256)} <= depth_shapes:
            msg = sub.recv(timeout=1.0)
            if msg is None:
                continue
            topic, header, payload = msg
            if topic == "depth":
                assert payload.shape == tuple(header["shape"])
                depth_shapes.add(payload.shape)
            elif topic == "color":
                color_shapes.add(decode_jpeg(payload).shape[:2])
    assert {(192, 256), (128, 256)} <= depth_shapes, depth_shapes
    assert (480, 640) in color_shapes  # the colour view is at the camera's size, whichever it is
    stats = daemon.stats()
    assert daemon.alive and stats["source"]["resolution_changes"] >= 1 and stats["errors"] == 0, stats
