"""`infer --anchors --ply --set` as a user runs it, on demo-scene images whose true depth is known."""
from __future__ import annotations

import json
import re
import subprocess

import cv2
import numpy as np
from plyfile import PlyData

from streamer.sources.demo_scene import DemoScene, demo_camera
from tests.conftest import MIDAS, cli, subprocess_env

TRAINED = MIDAS / "trained_proxy.pt"
W, H = 320, 240


def infer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli("infer", "--weights", str(TRAINED), *args), capture_output=True, text=True,
                          timeout=300, env=subprocess_env(), check=False)


def test_metric_npy_and_exact_ply_from_anchors(tmp_path):
    scene = DemoScene(W, H)
    rng = np.random.default_rng(0)
    anchors = {}
    for i in range(2):
        image, truth = scene.render(30 * i)
        cv2.imwrite(str(tmp_path / f"room{i}.png"), image)
        v, u = rng.integers(0, H, 8), rng.integers(0, W, 8)
        anchors[f"room{i}.png"] = [[int(a), int(b), float(truth[b, a])] for a, b in zip(u, v, strict=True)]
    anchors["room1.png"].append([W + 10, 5, 2.0])  # outside the image: named, dropped, the rest still used
    (tmp_path / "anchors.json").write_text(json.dumps(anchors))
    cam = demo_camera(W, H)
    out = tmp_path / "out"
    proc = infer(str(tmp_path / "room0.png"), str(tmp_path / "room1.png"), "--anchors", str(tmp_path / "anchors.json"),
                 "--ply", "--set", "metric.max_rel_error=5", "--set", "metric.extrapolation=allow",
                 "--set", f"camera.fx={cam.fx}", "--set", f"camera.width={W}", "--set", f"camera.height={H}",
                 "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"anchor 8 (u={W + 10}, v=5, 2 m): outside the {W}x{H} image" in proc.stderr
    judged = json.loads((out / "infer.json").read_text())["metric"]
    for i in range(2):
        metric = np.load(out / f"room{i}.metric.npy")
        assert metric.shape == (H, W) and metric.dtype == np.float32 and (out / f"room{i}.npy").is_file()
        _, truth = scene.render(30 * i)
        pts = np.array(anchors[f"room{i}.png"][:8])
        at = metric[pts[:, 1].astype(int), pts[:, 0].astype(int)]
        found = re.search(rf"room{i}.png: (\d+) of \d+ anchors used, median error ([\d.]+) %", proc.stderr)
        used, residual = int(found.group(1)), float(found.group(2)) / 100
        # the anchors it kept are the ones it fits best in inverse depth (its loss); the true anchors are all kept
        # but for a gross miss of the network, and it says what it wrote: their median relative depth error
        kept = np.argsort(np.abs(1 / at - 1 / pts[:, 2]))[:used]
        assert used >= 6 and abs(np.median(np.abs(at[kept] / pts[kept, 2] - 1)) - residual) < 2e-3
        block = judged[str(tmp_path / f"room{i}.png")]  # what the map is worth, per image, in infer.json
        assert block["used"] == used and block["verdict"] in ("good", "uncertain") and block["reason"]
        sigma = np.load(out / f"room{i}.sigma.npy")
        assert sigma.shape == (H, W) and sigma.dtype == np.float32
        assert np.array_equal(np.isfinite(metric), np.isfinite(metric) & ~np.isnan(sigma))  # sigma where published
        raw_ply = (out / f"room{i}.ply").read_bytes()
        assert raw_ply.startswith(b"ply\nformat binary_little_endian 1.0\n")
        ply = PlyData.read(str(out / f"room{i}.ply"))
        v = ply["vertex"].data
        assert [p.name for p in ply["vertex"].properties] == ["x", "y", "z", "red", "green", "blue"]
        assert v["x"].dtype == np.float32 and v["red"].dtype == np.uint8
        rows, cols = np.nonzero(np.isfinite(metric))
        assert len(v) == rows.size
        z = metric[rows, cols].astype(np.float64)
        ref = np.stack([(cols - cam.cx) / cam.fx * z, (rows - cam.cy) / cam.fy * z, z], axis=1)
        got = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()  # exact back-projection
        image = cv2.imread(str(tmp_path / f"room{i}.png"))
        assert np.array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), image[rows, cols][:, ::-1])


def test_anchor_problems_keep_the_relative_output(tmp_path):
    image, truth = DemoScene(W, H).render(0)
    for name in ("few", "flat", "none"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
    (tmp_path / "a.json").write_text(json.dumps({"few.png": [[10, 10, 2.0], [20, 20, -1.0]],
                                                 "flat.png": [[10, 200, 3.0]] * 4}))
    out = tmp_path / "out"
    proc = infer(*(str(tmp_path / f"{n}.png") for n in ("few", "flat", "none")), "--anchors", str(tmp_path / "a.json"),
                 "--output-dir", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "anchor 1 (u=20, v=20, -1 m): depth must be more than 0 m" in proc.stderr
    assert "few.png: cannot anchor: 1 usable point, the fit needs at least 2 (1 of 2 anchors usable" in proc.stderr
    assert "flat.png: cannot anchor: degenerate layout" in proc.stderr
    assert "none.png: no entry in the --anchors file" in proc.stderr and "3 of 3 inputs failed" in proc.stderr
    for name in ("few", "flat", "none"):
        assert (out / f"{name}.npy").is_file() and not (out / f"{name}.metric.npy").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"x.png": [[1, 2]]}')
    proc = infer(str(tmp_path / "few.png"), "--anchors", str(bad), "--output-dir", str(out))
    assert proc.returncode == 78 and "'x.png': anchor 0: expected [u, v, metres]" in proc.stderr
    proc = infer(str(tmp_path / "few.png"), "--ply", "--set", "metric.mode=fixed", "--set", "metric.scale=1e-4",
                 "--output-dir", str(out))
    assert proc.returncode == 78 and "--ply needs the camera's intrinsics" in proc.stderr


def test_infer_json_says_each_images_verdict_and_a_refused_map_is_not_written(tmp_path):
    """Default settings ([metric] max_rel_error 0.25, extrapolation mask): each image's verdict, reason, expected
    AbsRel and anchors used are in infer.json; a refused one gets no NAME.metric.npy, the rest theirs."""
    scene = DemoScene(W, H)
    rng = np.random.default_rng(0)
    anchors = {}
    for i in range(2):
        image, truth = scene.render(30 * i)
        cv2.imwrite(str(tmp_path / f"room{i}.png"), image)
        v, u = rng.integers(0, H, 8), rng.integers(0, W, 8)
        anchors[f"room{i}.png"] = [[int(a), int(b), float(truth[b, a])] for a, b in zip(u, v, strict=True)]
    (tmp_path / "anchors.json").write_text(json.dumps(anchors))
    out = tmp_path / "out"
    proc = infer(str(tmp_path / "room0.png"), str(tmp_path / "room1.png"), "--anchors", str(tmp_path / "anchors.json"),
                 "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    judged = json.loads((out / "infer.json").read_text())["metric"]
    assert set(judged) == {str(tmp_path / "room0.png"), str(tmp_path / "room1.png")}
    for i in range(2):
        block = judged[str(tmp_path / f"room{i}.png")]
        assert block["verdict"] in ("good", "uncertain", "refused") and block["reason"] and block["used"] == 8
        assert (out / f"room{i}.metric.npy").is_file() == (block["verdict"] != "refused")
        assert (out / f"room{i}.npy").is_file()  # relative depth whatever the verdict
        if block["verdict"] == "refused":
            assert f"room{i}.png: metric depth refused ({block['reason']})" in proc.stderr
        else:
            assert 0 < block["expected_abs_rel"] < 1
    assert {b["verdict"] for b in judged.values()} != {"good"}  # this weak network's room0 is not vouched for
