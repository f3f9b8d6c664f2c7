"""`depth-streamer infer` reproduces the official MiDaS_small output on both backends (fixture weights)."""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from tests.conftest import IMAGES, MIDAS, SEED_WEIGHTS, cli, subprocess_env


@pytest.fixture(scope="module", params=["onnxruntime", "torch"])
def infer_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"infer_{request.param}")
    cache = tmp_path_factory.mktemp("cache")
    bogus = out / "not_an_image.jpg"
    bogus.write_bytes(b"this is text, not a JPEG")
    inputs = [str(IMAGES["lions"]), str(bogus), str(IMAGES["turtle"]), str(IMAGES["gradient_640x480"])]
    proc = subprocess.run(cli("infer", *inputs, "--weights", str(SEED_WEIGHTS), "--backend", request.param,
                              "--output-dir", str(out)),
                          capture_output=True, text=True, timeout=300,
                          env=subprocess_env(DEPTH_STREAMER_CACHE=str(cache)))
    return request.param, out, proc


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_raw_output_matches_official(infer_run, name):
    _, out, _ = infer_run
    expected = np.load(MIDAS / "expected" / f"{name}.raw.npy")
    got = np.load(out / f"{name}.npy")
    assert got.dtype == np.float32
    assert got.shape == expected.shape  # network resolution: no resize
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_png_is_colorized_at_input_resolution(infer_run, name):
    _, out, _ = infer_run
    png = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    src = cv2.imread(str(IMAGES[name]))
    assert png is not None and png.shape == src.shape
    assert png.std() > 1.0  # a real picture, not a flat fill


def test_bad_input_is_reported_and_others_still_processed(infer_run):
    _, out, proc = infer_run
    assert proc.returncode != 0
    assert "not_an_image.jpg" in proc.stderr and "not a readable image" in proc.stderr
    assert not (out / "not_an_image.npy").exists()
    assert all((out / f"{name}.npy").is_file() for name in IMAGES)
    # The fixture weights are not the official file: the run must say so, never silently.
    assert "NOT the official" in proc.stderr


def test_backends_agree_with_each_other(tmp_path):
    from streamer.model import ModelOptions, load_depth_model

    image = cv2.imread(str(IMAGES["gradient_640x480"]))
    outs = [load_depth_model(ModelOptions(backend=b, device="cpu"), str(SEED_WEIGHTS)).predict(image)
            for b in ("torch", "onnxruntime")]
    assert np.abs(outs[0] - outs[1]).max() <= 1e-4 * np.abs(outs[0]).max()
