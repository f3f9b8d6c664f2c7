"""The precision gate on real weights and real footage: trained weights pass int8 and bf16, random ones do not.

trained_proxy.pt is a trained MiDaS small (its activations are a trained network's); random_seed0.pt is noise
that a quantiser cannot represent faithfully. Calibration and gate frames come from real camera footage.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from streamer.model import ModelOptions, build_network
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.precision.calibration import load_frame_set
from streamer.model.precision.cpu import CpuFeatures
from streamer.model.precision.choose import Int8Model, build_candidate
from streamer.model.precision.manager import PrecisionManager
from streamer.model.weights import identify, read_state_dict
from tests.conftest import MIDAS, SEED_WEIGHTS, VIDEO, cli, subprocess_env

PROXY_WEIGHTS = MIDAS / "trained_proxy.pt"
FOOTAGE = VIDEO / "cockatoo_640x480.mp4"
# Decide by the gate, not by this machine's flags (CI may lack them; the runtimes then emulate, slowly).
ANY_CPU = CpuFeatures(frozenset({"avx512_vnni", "avx512_bf16"}), "test CPU")


def _fp32(weights, cache):
    return OnnxRuntimeBackend(identify(weights).sha256, lambda: build_network(read_state_dict(weights)), cache,
                              threads=2)


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("precision_cache") / "onnx"  # the layout under $DEPTH_STREAMER_CACHE


@pytest.fixture(scope="session")
def frames():
    return load_frame_set(FOOTAGE, 32, 16)


@pytest.fixture(scope="session")
def proxy_choice(cache, frames):
    manager = PrecisionManager(ModelOptions(precision="auto", threads=2), _fp32(PROXY_WEIGHTS, cache), ANY_CPU)
    return manager.select(frames)


@pytest.fixture(scope="session")
def seed_choice(cache, frames):
    manager = PrecisionManager(ModelOptions(precision="int8", threads=2), _fp32(SEED_WEIGHTS, cache), ANY_CPU)
    return manager.select(frames)


def test_gate_accepts_int8_and_bf16_on_trained_weights(proxy_choice):
    results = {r.precision: r for r in proxy_choice.results}
    assert set(results) == {"int8", "bf16"}
    for r in results.values():
        assert r.passed, r.reason
        assert r.frames == 16 and r.nmae < 0.035 and r.corr > 0.999
    if proxy_choice.precision == "fp32":  # only on a CPU that emulates both (no VNNI/BF16): then neither is faster
        assert "none beat fp32" in proxy_choice.reason
    else:
        assert proxy_choice.backend.precision == proxy_choice.precision and "fastest passing" in proxy_choice.reason


def test_gate_refuses_both_on_random_weights_and_falls_back_to_fp32(seed_choice):
    results = {r.precision: r for r in seed_choice.results}
    assert set(results) == {"int8", "bf16"}  # int8 requested, refused, so bf16 was tried, refused too
    for r in results.values():
        assert not r.passed and r.nmae > 0.2, r.summary()
    assert seed_choice.precision == "fp32"
    assert "int8 REFUSED" in seed_choice.reason and "bf16 REFUSED" in seed_choice.reason
    assert "none passed" in seed_choice.reason


def test_int8_is_cached_by_weights_size_and_calibration(cache, frames, proxy_choice):
    fp32 = _fp32(PROXY_WEIGHTS, cache)
    again = Int8Model(fp32, frames)
    first = again(192, 256)
    assert again.builds == 0 and fp32.exports == 0  # the auto choice above quantised it; reused from disk
    other = load_frame_set(VIDEO / "realshort.mp4", 8, 4)
    other_model = Int8Model(fp32, other)
    second = other_model(192, 256)
    assert other_model.builds == 1 and second != first  # another calibration set is another file
    assert first.with_suffix(".json").is_file()


def test_cached_int8_runs_without_torch(cache, frames, proxy_choice):
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from streamer.model.backends import OnnxRuntimeBackend\n"
        "from streamer.model.precision.calibration import load_frame_set\n"
        "from streamer.model.precision.choose import build_candidate\n"
        "from streamer.model.weights import identify\n"
        f"fp32 = OnnxRuntimeBackend(identify({str(PROXY_WEIGHTS)!r}).sha256, None, Path({str(cache)!r}), threads=2)\n"
        f"frames = load_frame_set({str(FOOTAGE)!r}, 32, 16)\n"
        "b = build_candidate('int8', fp32, frames, threads=2)\n"
        "d = b.infer(np.zeros((1, 3, 192, 256), np.float32))\n"
        "print('builds', b._model_file.builds, 'torch', 'torch' in sys.modules, d.shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env=subprocess_env())
    assert out.returncode == 0, out.stderr
    assert "builds 0 torch False (192, 256)" in out.stdout


def test_explicit_bf16_on_trained_weights(cache, frames):
    fp32 = _fp32(PROXY_WEIGHTS, cache)
    manager = PrecisionManager(ModelOptions(precision="bf16", threads=2), fp32, ANY_CPU)
    choice = manager.select(frames)
    assert choice.precision == "bf16" and [r.precision for r in choice.results] == ["bf16"]
    assert "bf16 requested" in choice.reason
    assert build_candidate("bf16", fp32, None).describe()["precision"] == "bf16"


def _quantize(cache, weights, *extra):
    return subprocess.run(cli("quantize", "--weights", str(weights), "--any-cpu", "--threads", "2", *extra),
                          capture_output=True, text=True, timeout=180, check=False,
                          env=subprocess_env(DEPTH_STREAMER_CACHE=str(cache.parent)))


def test_quantize_command(cache, proxy_choice, seed_choice):
    ok = _quantize(cache, PROXY_WEIGHTS, "--calibration", str(FOOTAGE))
    assert ok.returncode == 0, ok.stderr
    assert "int8 model: " + str(cache) in ok.stdout and "precision int8" in ok.stdout
    refused = _quantize(cache, SEED_WEIGHTS, "--calibration", str(FOOTAGE), "--precision", "int8")
    assert refused.returncode == 1 and "REFUSED" in refused.stdout and "int8 refused" in refused.stderr
    missing = _quantize(cache, PROXY_WEIGHTS)
    assert missing.returncode != 0 and "--calibration" in missing.stderr
