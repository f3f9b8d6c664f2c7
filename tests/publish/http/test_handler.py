"""/metrics over real HTTP: the Prometheus text format with its content type, behind the same auth as the rest."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streamer.pipeline.metrics import Metrics
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher
from tests.publish.conftest import CallableStatus
from tests.publish.conftest import http_request as request


def test_metrics_endpoint_format_and_auth(renderer):
    metrics = Metrics()
    metrics.frames("cam1").frame(0.040, 0.065)
    srv = HttpPublisher(HttpOptions(port=0, auth_token="tok-1"), renderer=renderer)
    srv.start(CallableStatus(metrics=metrics.exposition))
    try:
        assert request(srv, "/metrics")[0] == 401
        status, headers, body = request(srv, "/metrics", {"Authorization": "Bearer tok-1"})
    finally:
        srv.stop(2.0)
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    latency = families["depth_streamer_latency_seconds"]
    assert latency.type == "histogram"
    count = [s for s in latency.samples if s.name.endswith("_count")]
    assert count[0].labels == {"camera": "cam1"} and count[0].value == 1
    assert families["depth_streamer_frames_captured"].type == "counter"
