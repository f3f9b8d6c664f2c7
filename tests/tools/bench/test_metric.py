"""`bench metric` on small inputs: every figure is measured, beside its oracle from the same run, and printed; the
ground bench's floor oracle checked on synthetic maps (no network)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.geometry import CameraOptions
from streamer.geometry.fit import truth_at
from streamer.sources.demo_scene import DemoScene, demo_camera, demo_mount
from streamer.steady import MetricOptions, MetricStage
from streamer.tools.bench.metric import bench_metric, ground_scores
from tests.conftest import MIDAS


def test_bench_metric_small(capsys):
    result = bench_metric(str(MIDAS / "trained_proxy.pt"), frames=3, images=2, threads=1, size=(320, 240))
    g = result["ground"]
    assert g["frames"] == 3 and g["anchored"] >= 1 and g["oracle_abs_rel"] > 0
    assert math.isclose(g["ratio"], g["abs_rel"] / g["oracle_abs_rel"]) and 0 < g["coverage_min"] <= 1
    assert g["floor_oracle_on_floor"] > 0 and g["ground_on_floor"] > 0 and g["scale_vs_floor_oracle"] > 0
    for key, n, wrong in ((8, 8, 0), (3, 3, 0), ("8_2_wrong", 8, 2)):
        p = result["points"][key]
        assert p["images"] == 2 and p["anchors"] == n and p["wrong"] == wrong
        assert p["failed"] + (p["median_ratio"] == p["median_ratio"]) >= 1
        if p["failed"] == 0:
            assert 0 < p["q1_ratio"] <= p["median_ratio"] <= p["q3_ratio"]
        assert 0 <= p["mean_used"] <= n
    assert 0 <= result["points"]["8_2_wrong"]["mean_wrong_used"] <= 2
    c = result["cost_ms"]
    assert c["points_mode_total"] == c["points_fit_and_map"] + c["points_cloud_stride2"] and c["points_per_cloud"] > 0
    out = capsys.readouterr().out
    assert "ground (demo, 3 frames" in out and "points (2 rendered images, 8 anchors)" in out
    assert "points (2 rendered images, 8 anchors, 2 of them wrong (x3 or /3))" in out and "quartiles" in out
    assert "cost at 256x192" in out and "CPU-ms per frame (target <= 3)" in out  # 320x240 frames: 256x192 maps
    v = result["verdict"]  # the verdict rows: 2 images cannot calibrate an error model, the analytic rows run
    assert "no points error model: error model:" in out and "points, 8 anchors, analytic: 4 images:" in out
    assert v["points, 8 anchors, analytic"]["images"] == 4 and "points, 8 anchors, error model" not in v
    assert "live demo ground, analytic: " in out and "live demo points, 8 true pixels a frame" in out
    assert v["cost"]["points_verdict_and_sigma_ms"] > 0 and "verdict cost at 256x192" in out


W, H = 320, 240


def _ground_on(maps) -> list[dict]:
    stage = MetricStage(MetricOptions(mode="ground"), CameraOptions(), source_camera=demo_camera(W, H),
                        source_mount=demo_mount())
    scene = DemoScene(W, H)
    rows = []
    for k, make in enumerate(maps):
        _, truth = scene.render(10 * k)
        t = truth_at(truth, 160, 120)
        depth = make(t, np.random.default_rng(k)).astype(np.float32)
        rows.append(ground_scores(stage.update(depth, "seeded" if k == 0 else "aligned", truth.shape, 0.1 * k),
                                  depth, truth))
    return rows


def test_floor_oracle_is_the_oracle_on_a_map_consistent_with_the_truth():
    # the map is the true inverse depth (affine: 1 / z = 0.5 d + 0.05) with 3 % noise: the floor mask and both fits
    # on it must then do as well as the oracle, so a floor oracle far from the oracle means the network's floor
    # disagrees with the rest of its map
    for sc in _ground_on([lambda t, rng: (2.0 / t - 0.1) * (1 + rng.normal(0, 0.03, t.shape))] * 3):
        assert sc["ok"] and sc["floor_share"] > 0.2 and sc["cover"] > 0.95
        assert sc["floor_oracle"] < 1.2 * sc["oracle"] and sc["abs_rel"] < 1.2 * sc["oracle"]  # the target: 1.2x
        for scale, shift in ((sc["scale"], sc["shift"]), (sc["floor_scale"], sc["floor_shift"])):
            assert scale == pytest.approx(0.5, rel=0.03) and shift == pytest.approx(0.05, rel=0.1)  # the truth's


def test_floor_oracle_exposes_a_floor_inconsistent_with_the_rest_of_the_map():
    # walls and objects at twice the floor's distance scale (as the trained proxy does): the floor fits (ground fit
    # and floor oracle agree there), the rest of the map cannot
    def warped(t, rng):
        floor = np.abs(t * demo_mount().floor_inverse_depth(demo_camera(W, H).scaled(160, 120)) - 1.0) < 1e-2
        return np.where(floor, 2.0 / t - 0.1, 1.0 / t - 0.1) * (1 + rng.normal(0, 0.01, t.shape))
    for sc in _ground_on([warped] * 2):
        assert sc["ok"] and sc["ground_on_floor"] < 0.05 and sc["floor_oracle_on_floor"] < 0.05
        assert sc["floor_oracle"] > 2 * sc["oracle"] and sc["abs_rel"] > 2 * sc["oracle"]
