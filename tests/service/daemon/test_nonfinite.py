"""Weights with a NaN in them (the official layout, one convolution weight NaN) make every output NaN: the daemon must
publish no depth frame and say so on every channel - /healthz 503, the ZeroMQ status topic, sd_notify STATUS, /stats
and /metrics - instead of answering "ok" over all-NaN depth."""
from __future__ import annotations

import json
import math
import time

import torch
import zmq

from tests.conftest import SEED_WEIGHTS

from .harness import START_TIMEOUT_S

REASON = "model output not finite"


def nan_weights(path):
    state = torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)
    state["pretrained.layer1.0.weight"][0, 0, 0, 0] = math.nan  # the stem convolution: it reaches every pixel
    torch.save(state, path)
    return path


def test_nan_weights_are_an_error_on_every_channel(spawn, notify, tmp_path):
    daemon = spawn("--weights", str(nan_weights(tmp_path / "nan.pt")), "--set", "source.loop=true",
                   env={"NOTIFY_SOCKET": notify.path})
    daemon.wait_for(lambda: "READY=1" in notify.lines(), START_TIMEOUT_S, "READY=1 (serving, error reported)")
    daemon.wait_for(lambda: REASON in daemon.http("/healthz")[2].decode(), 20.0, "/healthz naming the NaNs")
    assert daemon.http("/healthz")[0] == 503

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for topic in (b"depth", b"status"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(daemon.zmq_endpoint)
    topics, status = [], None
    try:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            if sub.poll(100):
                parts = sub.recv_multipart()
                topics.append(parts[0])
                if parts[0] == b"status":
                    status = json.loads(parts[2])
    finally:
        sub.close()
        ctx.term()
    assert b"depth" not in topics, "all-NaN depth was published"
    assert status is not None and status["state"] == "unhealthy" and REASON in status["reason"], status

    stats = daemon.stats()
    assert stats["nonfinite_frames"] > 0 and stats["frames_out"] == 0
    _, _, body = daemon.http("/metrics")
    line = next(x for x in body.decode().splitlines() if x.startswith("depth_streamer_nonfinite_frames_total"))
    assert float(line.split()[-1]) > 0
    daemon.wait_for(lambda: any(REASON in x for x in notify.lines() if x.startswith("STATUS=")), 10.0,
                    "STATUS= naming the NaNs")
    assert daemon.wait_log(REASON, 1.0)
