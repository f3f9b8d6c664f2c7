"""/metrics of a real daemon, read by prometheus_client's own parser: labelled by camera id, and its counters and
histograms keep counting through SIGHUP, which replaces the whole pipeline (a new source counts from 0)."""
from __future__ import annotations

import signal

from prometheus_client.parser import text_string_to_metric_families

from .harness import DaemonProcess

COUNTERS = ("frames_captured", "frames_published", "frames_dropped", "decode_errors", "reconnects")


def scrape(daemon: DaemonProcess) -> dict[tuple[str, tuple], float]:
    status, headers, body = daemon.http("/metrics")
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", status
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def counters(samples: dict) -> dict:
    return {k: v for k, v in samples.items() if k[0].startswith("depth_streamer_")
            and k[0].endswith(("_total", "_count", "_sum", "_bucket"))}


def test_metrics_survive_sighup(spawn, tmp_path):
    path = tmp_path / "cam.toml"
    path.write_text('[zmq]\ncamera_id = "yard"\n\n[source]\nloop = true\n')
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    daemon.wait_for(lambda: daemon.frames_out() >= 5, 20.0, "5 depth frames")
    before = scrape(daemon)
    cam = (("camera", "yard"),)
    for name in COUNTERS:
        labels = tuple(sorted(cam + ((("stage", "inference"),) if name == "frames_dropped" else ())))
        assert ("depth_streamer_" + name + "_total", labels) in before, (name, sorted(before)[:20])
    assert before[("depth_streamer_frames_published_total", cam)] >= 5
    assert before[("depth_streamer_latency_seconds_count", cam)] >= 5
    assert before[("depth_streamer_source_up", cam)] == 1 and before[("depth_streamer_healthy", cam)] == 1

    mark = daemon.log_lines
    daemon.send(signal.SIGHUP)
    daemon.wait_log(r"configuration reloaded from", 20.0, after=mark)
    daemon.wait_healthy(20.0)
    captured = before[("depth_streamer_frames_captured_total", cam)]
    daemon.wait_for(lambda: scrape(daemon)[("depth_streamer_frames_captured_total", cam)] > captured + 10, 20.0,
                    "frames counted after the reload")
    new_source = daemon.stats()["source"]["frames"]  # the reloaded pipeline's source counted from 0
    after = scrape(daemon)
    went_back = {k: (v, after.get(k)) for k, v in counters(before).items() if after.get(k, -1) < v}
    assert not went_back, went_back
    assert after[("depth_streamer_frames_captured_total", cam)] >= captured + new_source
