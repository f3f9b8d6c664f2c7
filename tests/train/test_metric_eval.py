"""`eval --anchors N / --ground` with `--error-model-out` as a user runs it (real subprocesses, the trained proxy, a
rendered set with NAME.camera.json): the verdict split and sigma's calibration printed, the error model written,
used by a later `eval`, and refused for other weights, another mode or another anchor count."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from streamer.geometry.error_model import ErrorModel
from streamer.train.synth import write_demo_dataset
from tests.conftest import MIDAS, cli, subprocess_env

TRAINED, RANDOM = MIDAS / "trained_proxy.pt", MIDAS / "random_seed0.pt"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli("eval", *args, "--threads", "2"), capture_output=True, text=True, timeout=600,
                          env=subprocess_env(), check=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rgbd")
    write_demo_dataset(root, 16, seed=7, width=256, height=192)
    return root


def test_points_error_model_round_trip_and_refusals(data, tmp_path):
    model = tmp_path / "points8.json"
    proc = run(str(data), "--weights", str(TRAINED), "--anchors", "8", "--error-model-out", str(model))
    assert proc.returncode == 0, proc.stderr
    assert "metric points (8 anchors), analytic: 16 images:" in proc.stdout
    assert "within 1 sigma" in proc.stdout and "AUSE" in proc.stdout and "Spearman" in proc.stdout
    ceiling = re.search(r"Spearman -?[0-9.]+ \(ceiling (-?[0-9.]+)\)", proc.stdout)  # what 8 fresh pixels could rank
    assert ceiling is not None and -1 <= float(ceiling.group(1)) <= 1, proc.stdout
    saved = ErrorModel.load(model)
    assert saved.mode == "points" and saved.anchors == 8 and saved.net_size == 256 and saved.coverage == 0.8
    assert len(saved.weights_sha256) == 64 and saved.images >= 8
    report = tmp_path / "r.json"
    used = run(str(data), "--weights", str(TRAINED), "--anchors", "8", "--set", f'metric.error_model="{model}"',
               "--json", str(report))
    assert used.returncode == 0, used.stderr
    assert "metric points (8 anchors), error model: 16 images:" in used.stdout
    per_image = json.loads(report.read_text())["per_image"]
    assert all(m["metric"]["verdict"] in ("good", "uncertain", "refused") for m in per_image)
    assert json.loads(report.read_text())["metric"]["error_model"] is True
    mismatches = ((("--weights", str(RANDOM), "--anchors", "8"), "calibrated for weights sha256"),
                  (("--weights", str(TRAINED), "--anchors", "3"), "calibrated with 8 anchors per image, not 3"),
                  (("--weights", str(TRAINED), "--ground"), "calibrated for points mode, [metric] mode is ground"))
    for args, says in mismatches:
        bad = run(str(data), *args, "--set", f'metric.error_model="{model}"')
        assert bad.returncode != 0 and says in bad.stderr and "Traceback" not in bad.stderr
        assert len([line for line in bad.stderr.splitlines() if says in line]) == 1  # one line names it


def test_ground_reads_each_images_camera_and_calibrates(data, tmp_path):
    assert (data / "demo_7_00000.camera.json").is_file()
    model = tmp_path / "ground.json"
    proc = run(str(data), "--weights", str(TRAINED), "--ground", "--error-model-out", str(model))
    assert proc.returncode == 0, proc.stderr
    assert "metric ground, analytic: 16 images:" in proc.stdout and "ceiling" not in proc.stdout  # points only
    assert ErrorModel.load(model).mode == "ground"
    (data / "demo_7_00001.camera.json").rename(tmp_path / "moved.json")
    try:
        missing = run(str(data), "--weights", str(TRAINED), "--ground")
    finally:
        (tmp_path / "moved.json").rename(data / "demo_7_00001.camera.json")
    assert missing.returncode != 0 and "demo_7_00001: no demo_7_00001.camera.json beside it" in missing.stderr


def test_flag_mistakes_are_named(data):
    both = run(str(data), "--weights", str(TRAINED), "--anchors", "8", "--ground")
    assert both.returncode != 0 and "--ground and --anchors N judge different modes" in both.stderr
    alone = run(str(data), "--weights", str(TRAINED), "--error-model-out", "x.json")
    assert alone.returncode != 0 and "give --anchors N (points mode) or --ground" in alone.stderr
