"""Prometheus metrics over a real in-process pipeline (demo source, seed weights, publishers on free ports), parsed
with prometheus_client's own parser: every documented metric, labelled by camera, and counters that keep counting
when a new pipeline replaces the old one on the same registry (as SIGHUP does)."""
from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from streamer.pipeline.metrics import Metrics
from tests.pipeline.test_status import build, wait

COUNTERS = ("frames_captured", "frames_published", "frames_dropped", "decode_errors", "reconnects",
            "inference_errors")
GAUGES = ("source_up", "healthy", "http_viewers", "zmq_subscribed_topics")


def scrape(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the exposition text."""
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[("depth_streamer_" + name, tuple(sorted(labels.items())))]


def test_every_metric_labelled_by_camera_and_counters_survive_a_new_pipeline():
    metrics = Metrics()
    first = build(metrics=metrics, **{"zmq.camera_id": "cam7"})
    first.start(warmup_timeout_s=10.0)
    try:
        wait(lambda: first.worker.stats.inferred.total >= 5)
        s = scrape(metrics)
    finally:
        first.stop(1.0)
    for name in COUNTERS:  # every documented counter is exposed
        assert any(key[0] == f"depth_streamer_{name}_total" for key in s), name
    for name in ("decode_errors", "reconnects", "inference_errors"):  # the demo source and finite weights: none
        assert value(s, name + "_total", camera="cam7") == 0, name
    for stage in ("inference", "zmq", "http"):  # every stage that can drop has its labelled sample
        assert ("depth_streamer_frames_dropped_total", (("camera", "cam7"), ("stage", stage))) in s, stage
    assert value(s, "frames_captured_total", camera="cam7") >= value(s, "frames_published_total", camera="cam7") >= 5
    assert value(s, "source_up", camera="cam7") == 1 and value(s, "healthy", camera="cam7") == 1
    assert value(s, "http_viewers", camera="cam7") == 0 and value(s, "zmq_subscribed_topics", camera="cam7") == 0
    assert value(s, "inference_seconds_count", camera="cam7") >= 5
    assert value(s, "latency_seconds_count", camera="cam7") >= 5
    assert 0 < value(s, "latency_seconds_sum", camera="cam7") / value(s, "latency_seconds_count", camera="cam7") < 5
    assert value(s, "model_info", camera="cam7", backend="onnxruntime", precision="fp32",
                 weights_official="false") == 1
    assert ("process_resident_memory_bytes", ()) in s
    stopped = scrape(metrics)
    # Every captured frame was inferred (published) or dropped, but for the one or two in flight at the stop.
    captured, published = (value(stopped, f"frames_{n}_total", camera="cam7") for n in ("captured", "published"))
    in_flight = captured - published - value(stopped, "frames_dropped_total", camera="cam7", stage="inference")
    assert in_flight in (0, 1, 2), (captured, published, in_flight)

    second = build(metrics=metrics, **{"zmq.camera_id": "cam7"})  # a new source and worker, counting from 0
    second.start(warmup_timeout_s=10.0)
    try:
        wait(lambda: second.worker.stats.inferred.total >= 3)
        time.sleep(0.2)
    finally:
        second.stop(1.0)
    s2 = scrape(metrics)
    for key, before in stopped.items():
        if key[0].endswith(("_total", "_count", "_sum")) or key[0].endswith("_bucket"):
            assert s2[key] >= before, (key, before, s2[key])  # monotonic across the swap
    published = value(s2, "frames_published_total", camera="cam7")
    assert published >= value(stopped, "frames_published_total", camera="cam7") + 3
    assert published == second.worker.stats.inferred.total + first.worker.stats.inferred.total
