"""`bench soak` end to end, shortened: a real daemon, real MJPEG and ZeroMQ clients, and the JSON it writes."""
from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import REPO, SEED_WEIGHTS, VIDEO, cli, subprocess_env


def test_soak_quarter_minute_writes_honest_samples(tmp_path):
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        cli("bench", "soak", str(VIDEO / "cockatoo_640x480.mp4"), "--minutes", "0.25", "--sample-s", "2.5",
            "--weights", str(SEED_WEIGHTS), "--json", str(out), "--precision", "fp32"),
        cwd=REPO, env=subprocess_env(DEPTH_STREAMER_CACHE=os.environ["DEPTH_STREAMER_CACHE"]),
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    samples, summary = report["samples"], report["summary"]

    assert len(samples) >= 4
    assert not summary["daemon_died"]
    assert all(s["fps_out"] > 0 for s in samples[-2:]), samples
    for s in samples:
        assert s["rss_mb"] > 0 and s["threads"] > 0 and s["fds"] > 0, s
    # Every client got data: the normal and the slow subscriber, and each of the 5 MJPEG viewers.
    assert summary["zmq"]["normal_frames"][0] > 0
    assert summary["zmq"]["slow_messages"] > 0
    assert len(summary["mjpeg"]["parts"]) == 5 and min(summary["mjpeg"]["parts"]) > 0
    # Both phases were measured, and the latency came from real headers.
    assert {s["phase"] for s in samples} == {"base", "slow"}
    assert summary["latency_ms"]["frames"] > 0 and summary["latency_ms"]["p50"] > 0
    assert "summary:" in proc.stdout
