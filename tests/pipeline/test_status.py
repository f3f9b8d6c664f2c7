"""The StatusBoard over a real in-process pipeline (demo source, seed weights, real publishers on free ports): what
every stage and the supervisor read comes from here."""
from __future__ import annotations

import time

from streamer.client import DepthSubscriber
from streamer.config.schema import Override
from streamer.model import load_depth_model
from streamer.pipeline.options import load_config
from streamer.pipeline.pipeline import Pipeline
from tests.conftest import SEED_WEIGHTS


def build(metrics=None, weights=SEED_WEIGHTS, **values) -> Pipeline:
    base = {"source.url": "demo", "source.width": 160, "source.height": 120, "zmq.port": 0, "http.port": 0,
            "model.net_size": 128, "model.precision": "fp32", **values}
    conf = load_config(None, [Override(k, v, "test") for k, v in base.items()])
    return Pipeline(conf, load_depth_model(conf["model"], str(weights)), metrics)


def wait(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return got


def test_health_and_snapshot_follow_the_stages():
    pipeline = build()
    status = pipeline.status
    assert status.no_signal() is not None  # nothing started: the source is not live
    pipeline.start(warmup_timeout_s=10.0)
    try:
        wait(lambda: status.health().ok)
        assert status.health().reason == "ok" and status.no_signal() is None and not status.idle()
        assert status.serving() and status.progressing().ok
        snap = wait(lambda: (s := status.snapshot())["frames_out"] >= 3 and s)
        assert snap["source"]["url"] == "demo" and snap["source"]["state"] == "live"
        assert snap["fps_in"] > 0 and snap["model"]["weights_official"] is False
        assert set(snap["publishers"]) == {"zmq-publisher", "http-publisher"}
        assert "dropped" in snap and "latency_ms" in snap
    finally:
        pipeline.stop(1.0)
    assert not status.progressing().ok  # the worker is gone


def test_idle_until_someone_subscribes():
    pipeline = build(**{"daemon.pause_when_idle": True})
    status = pipeline.status
    pipeline.start(warmup_timeout_s=10.0)
    try:
        wait(lambda: pipeline.worker.stats.skipped_idle > 0)
        assert status.idle() and status.health().ok and status.health().reason.startswith("idle")
        assert status.serving() and status.audience() == 0
        with DepthSubscriber(pipeline.zmq.endpoint, topics=("depth",)) as sub:
            wait(lambda: sub.recv(0.2) is not None)
            assert not status.idle() and status.audience() >= 1
    finally:
        pipeline.stop(1.0)
