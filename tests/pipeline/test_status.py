"""The StatusBoard over a real in-process pipeline (demo source, seed weights, real publishers on free ports): what
every stage and the supervisor read comes from here."""
from __future__ import annotations

import time

from streamer.client import DepthSubscriber
from streamer.config.schema import Override
from streamer.model import load_depth_model
from streamer.pipeline.options import load_config
from streamer.pipeline.pipeline import Pipeline
from tests.conftest import SEED_WEIGHTS, VIDEO

REALSHORT = VIDEO / "realshort.mp4"  # 320x240, 36 frames


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
        assert status.worker_alive() and status.source_failed() is None and status.ended() is None
        assert status.ready_reason() == "first depth frame published"
    finally:
        pipeline.stop(1.0)
    assert not status.worker_alive() and not status.progressing().ok  # the worker is gone
    assert status.progressing().reason == "inference worker died"
    # The Prometheus sample, typed: the same numbers the stages counted, the gauges of stages that are off absent.
    sample = status.sample()
    assert sample.counters.frames_published == status.frames_out() == pipeline.worker.stats.inferred.total >= 3
    assert sample.counters.frames_captured == pipeline.source.status().frames
    assert dict(sample.counters.frames_dropped) == {"inference": pipeline.slot.dropped, "zmq": pipeline.zmq.dropped,
                                                    "http": pipeline.http.dropped}
    gauges = dict(sample.gauges.items())
    assert gauges["http_viewers"] == 0 and gauges["zmq_subscribed_topics"] == 0
    assert "foxglove_subscriptions" not in gauges and "recording_ok" not in gauges  # both off in this config
    assert sample.model.labels() == {"backend": "onnxruntime", "precision": "fp32", "weights_official": "false"}


def test_a_file_that_ends_is_reported_by_the_board(tmp_path):
    pipeline = build(**{"source.url": str(REALSHORT), "source.pace": False, "source.width": 0, "source.height": 0})
    status = pipeline.status
    assert pipeline.source.lossless and pipeline.source.gated  # configured when built, from the config
    pipeline.start(warmup_timeout_s=30.0)
    try:
        reason = wait(status.ended, timeout=120.0)
        assert reason.endswith("end of file") and status.source_failed() is None
        health = status.health()  # done, not down (its /healthz: 200)
        assert health.ok and health.reason.startswith("ended: ") and health.reason.endswith("end of file"), health
        pipeline.drain(5.0)
        assert status.frames_out() == 36  # unpaced: lossless, every frame of the file once
    finally:
        pipeline.stop(1.0)


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


def test_a_dead_anchors_receiver_is_never_healthy():
    # issue 26: the receiver's thread used to die on one bad message while /healthz stayed 200. Messages can no
    # longer kill it (tests/service/daemon/test_hostile_anchors.py); its socket can still break: here its ZeroMQ
    # context is ended under it, and every channel must say so.
    import threading

    from streamer.tools.measure import free_port

    pipeline = build(**{"metric.mode": "points", "metric.anchors_endpoint": f"tcp://127.0.0.1:{free_port()}"})
    status = pipeline.status
    pipeline.start(warmup_timeout_s=10.0)
    try:
        wait(lambda: status.health().ok)
        anchors = pipeline.streams[0].anchors
        assert anchors is not None and anchors.problem() == ""
        threading.Thread(target=anchors._ctx.term, daemon=True).start()
        wait(lambda: anchors.problem())
        health = status.health()
        assert not health.ok and "anchors receiver stopped" in health.reason, health
        assert not status.progressing().ok  # the systemd watchdog is no longer pinged
        assert status.snapshot()["metric"]["anchors"]["alive"] is False
        assert "anchors receiver stopped" in wait(lambda: (a := status.snapshot()["metric"]["anchor"]) and
                                                  "receiver" in a["reason"] and a["reason"])
    finally:
        pipeline.stop(1.0)
