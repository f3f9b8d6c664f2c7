"""`bench metric` on small inputs: every figure is measured, beside its oracle from the same run, and printed."""
from __future__ import annotations

import math

from streamer.tools.bench.metric import bench_metric
from tests.conftest import MIDAS


def test_bench_metric_small(capsys):
    result = bench_metric(str(MIDAS / "trained_proxy.pt"), frames=3, images=2, threads=1, size=(320, 240))
    g = result["ground"]
    assert g["frames"] == 3 and g["anchored"] >= 1 and g["oracle_abs_rel"] > 0
    assert math.isclose(g["ratio"], g["abs_rel"] / g["oracle_abs_rel"]) and 0 < g["coverage_min"] <= 1
    for n in (8, 3):
        p = result["points"][n]
        assert p["images"] == 2 and p["failed"] + (p["median_ratio"] == p["median_ratio"]) >= 1
        assert 0 <= p["mean_used"] <= n
    c = result["cost_ms"]
    assert c["points_mode_total"] == c["points_fit_and_map"] + c["points_cloud_stride2"] and c["points_per_cloud"] > 0
    out = capsys.readouterr().out
    assert "ground (demo, 3 frames" in out and "points (2 rendered images, 8 anchors)" in out
    assert "cost at 256x192" in out and "CPU-ms per frame (target <= 3)" in out  # 320x240 frames: 256x192 maps
