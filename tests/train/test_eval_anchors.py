"""`eval DATA --anchors N`: metric depth from N true pixels per image, next to the least-squares oracle."""
from __future__ import annotations

import json
import subprocess

import numpy as np

from streamer.train.metrics import anchored_metrics, depth_metrics
from tests.conftest import cli, subprocess_env
from tests.train.conftest import THREADS, TRAINED


def test_anchored_metrics_on_exact_relative_depth():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 8, (40, 50)).astype(np.float32)
    pred = (3.0 / gt + 0.2).astype(np.float32)  # exactly affine in inverse depth
    pred_noisy = pred.copy()
    oracle = depth_metrics(pred, gt)
    got = anchored_metrics(pred, gt, 8, np.random.default_rng(1))
    assert got["ok"] and got["used"] == 8 and got["abs_rel"] < 1e-5 and oracle["abs_rel"] < 1e-5
    few = anchored_metrics(pred_noisy, gt, 3, np.random.default_rng(1))
    assert few["ok"] and few["anchors"] == 3
    flat = anchored_metrics(np.ones_like(pred), gt, 8, np.random.default_rng(1))
    assert not flat["ok"] and "degenerate" in flat["reason"]


def test_eval_anchors_cli(tiny_demo, tmp_path):
    report = tmp_path / "r.json"
    proc = subprocess.run(cli("eval", str(tiny_demo), "--weights", str(TRAINED), "--anchors", "8", "--json",
                              str(report), "--threads", str(THREADS)), capture_output=True, text=True, timeout=300,
                          env=subprocess_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "oracle" in proc.stdout and "anchored" in proc.stdout and "8 anchors per image" in proc.stdout
    result = json.loads(report.read_text())
    a = result["anchored"]
    assert a["anchors"] == 8 and a["images"] + a["failed"] == 4
    per = [m["anchored"] for m in result["per_image"]]
    assert all(p["anchors"] == 8 for p in per)
    if a["images"]:
        assert a["median_ratio_to_oracle"] > 0 and 2 <= a["mean_used"] <= 8
    # the same seed picks the same pixels: the same figures
    again = subprocess.run(cli("eval", str(tiny_demo), "--weights", str(TRAINED), "--anchors", "8", "--json",
                               str(tmp_path / "r2.json"), "--threads", str(THREADS)), capture_output=True, text=True,
                           timeout=300, env=subprocess_env(), check=False)
    assert again.returncode == 0
    assert json.loads((tmp_path / "r2.json").read_text())["anchored"] == a
    bad = subprocess.run(cli("eval", str(tiny_demo), "--anchors", "1"), capture_output=True, text=True, timeout=120,
                         env=subprocess_env(), check=False)
    assert bad.returncode != 0 and "--anchors 1: the fit needs at least 2 anchors" in bad.stderr
