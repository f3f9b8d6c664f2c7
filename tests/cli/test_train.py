"""End to end through the real command line: `dataset demo`, `train` (Ctrl-C, --resume), `eval --json` and
`eval --anchors N` (metric depth from N true pixels per image, next to the least-squares oracle)."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time

import cv2
import numpy as np
import torch

from streamer.model import build_network
from streamer.model.weights import read_state_dict
from streamer.train.dataset import RGBDDataset
from tests.conftest import REPO, cli, subprocess_env
from tests.train.conftest import THREADS, TRAINED


def _run(*args, timeout=180):
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=subprocess_env())


def test_dataset_demo_writes_the_layout_reproducibly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = _run("dataset", "demo", str(out), "--count", "3", "--seed", "5", "--size", "96x64")
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in a.iterdir())
    assert len(names) == 9 and all(n.startswith("demo_5_") for n in names)  # photo, depth, camera.json
    assert sum(n.endswith(".camera.json") for n in names) == 3
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes()  # same seed, same frames
    data = RGBDDataset(a)
    frames = [data.load(i) for i in range(3)]
    depth = cv2.imread(str(data.pairs[0].depth), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (64, 96) and depth.min() > 0
    assert all(f.bgr.shape == (64, 96, 3) for f in frames)
    # Different rooms and viewpoints, not one scene: the depth layouts differ a lot between frames.
    assert min(np.abs(np.log(x.depth) - np.log(y.depth)).mean() for x, y in
               ((frames[0], frames[1]), (frames[1], frames[2]), (frames[0], frames[2]))) > 0.1
    proc = _run("dataset", "demo", str(tmp_path / "c"), "--count", "2", "--seed", "6", "--size", "96x64")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c" / "demo_6_00000.png").read_bytes() != (a / "demo_5_00000.png").read_bytes()


def test_train_ctrl_c_resume_then_eval(tiny_demo, tmp_path):
    out = tmp_path / "tuned.pt"
    ckpt = tmp_path / "tuned.ckpt"
    args = ["train", str(tiny_demo), "--weights", str(TRAINED), "--out", str(out), "--epochs", "2", "--batch", "2",
            "--size", "64", "--val-split", "0", "--threads", str(THREADS)]
    proc = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=subprocess_env())
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    seen = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:  # the first progress line comes right after the first step
            try:
                seen.append(lines.get(timeout=1.0))
            except queue.Empty:
                continue
            if seen[-1].startswith("epoch 1/2 ["):
                break
        assert seen and seen[-1].startswith("epoch 1/2 ["), "".join(seen)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        stdout = proc.stdout.read()  # one line: it cannot have filled the pipe
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    stderr = "".join(seen)
    assert proc.returncode == 0, stderr
    assert "interrupted at step" in stdout and "Traceback" not in stderr
    assert ckpt.is_file() and not out.exists()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert 1 <= state["step"] < 4 and state["args"]["size"] == 64

    proc = _run(*args, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stderr and f"{out}: 4 steps" in proc.stdout
    build_network(read_state_dict(out))  # strict load, official layout

    report = tmp_path / "eval.json"
    proc = _run("eval", str(tiny_demo), "--weights", str(out), "--max-depth", "20", "--json", str(report),
                "--threads", str(THREADS))
    assert proc.returncode == 0, proc.stderr
    assert "AbsRel" in proc.stdout and "delta1" in proc.stdout
    assert "eval [" in proc.stderr and "NOT the official" in proc.stderr  # progress bar; non-official weights
    result = json.loads(report.read_text())
    assert list(result)[:7] == ["images", "abs_rel", "rmse", "delta1", "delta2", "delta3", "per_image"]
    assert result["images"] == 4 and len(result["per_image"]) == 4
    assert 0 < result["abs_rel"] < 1 and 0 < result["delta1"] <= result["delta2"] <= result["delta3"] <= 1
    assert result["abs_rel"] == np.mean([m["abs_rel"] for m in result["per_image"]])


def test_eval_int8_is_calibrated_and_gated_on_the_sets_own_photos(tiny_demo, tmp_path):
    report = tmp_path / "int8.json"
    proc = _run("eval", str(tiny_demo), "--weights", str(TRAINED), "--precision", "int8", "--json", str(report),
                "--threads", str(THREADS))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(report.read_text())
    assert result["precision_requested"] == "int8" and result["precision"] in ("int8", "bf16", "fp32"), result
    assert "int8 REFUSED" in proc.stderr or "int8 passed" in proc.stderr  # built and gated on any CPU
    assert "NMAE" in proc.stderr  # the gate's measurement is in the log, whichever way it went
    if result["precision"] != "int8":  # refused or slower than fp32 here: said at WARNING, with the reason
        assert "WARNING" in proc.stderr and "--precision int8 requested, " + result["precision"] in proc.stderr
    assert result["images"] == 4 and 0 < result["abs_rel"] < 1


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
