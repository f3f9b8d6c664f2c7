"""The precision choice on real weights and real footage, on whatever CPU runs the suite (AVX2-only, VNNI, AMX, arm64;
with or without openvino): what serves passed the gate AND beat fp32 in a race on this machine, or fp32 serves and
every candidate's refusal or lost race is in the reason. No test asserts which precision one CPU picks.

trained_proxy.pt is a trained MiDaS small (its activations are a trained network's); random_seed0.pt is noise
that a quantiser cannot represent faithfully. Calibration and gate frames come from real camera footage.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from streamer.model import ModelOptions, build_network
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.precision.backends import openvino_available
from streamer.model.precision.cache import Verdict, VerdictCache
from streamer.model.precision.calibration import load_frame_set, split
from streamer.model.precision.choose import Choice, Int8Model, build_candidate
from streamer.model.precision.cpu import detect
from streamer.model.precision.manager import PrecisionManager
from streamer.model.precision.quantize import DEFAULT_SETTINGS
from streamer.model.weights import identify, read_state_dict
from tests.conftest import MIDAS, SEED_WEIGHTS, VIDEO, cli, subprocess_env
from tests.model.precision.fakes import ALL, FAST_S, FP32_S, Fake

PROXY_WEIGHTS = MIDAS / "trained_proxy.pt"
FOOTAGE = VIDEO / "cockatoo_640x480.mp4"
SETTINGS = replace(DEFAULT_SETTINGS, reduce_range=detect().reduce_range())  # what the manager uses on this CPU
LOW = {"int8", "bf16"} if openvino_available() else {"int8"}  # without openvino, bf16 is left out with a reason


def assert_measured_choice(choice: Choice) -> None:
    """The invariant: a low precision serves only if it passed the gate and won the race against fp32; otherwise
    fp32 serves and the reason gives each candidate's refusal (with its error) or lost race (with both times)."""
    if choice.precision != "fp32":
        r = choice.result
        assert r is not None and r.passed and r.raced and r.ms < r.fp32_ms, choice.reason
        assert r.nmae <= 0.035 and r.worst_nmae <= 0.20 and r.corr >= 0.999
        assert choice.backend.describe()["precision"] == choice.precision
        assert f"{r.ms:.1f} ms vs fp32 {r.fp32_ms:.1f} ms" in choice.reason
        return
    for r in choice.results:
        if r.passed:
            assert r.raced and r.ms >= r.fp32_ms and f"{r.precision} passed the gate but LOST the race: " \
                f"{r.ms:.1f} ms vs fp32 {r.fp32_ms:.1f} ms" in choice.reason
        else:
            assert f"{r.precision} REFUSED" in choice.reason and r.reason in choice.reason


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
    manager = PrecisionManager(ModelOptions(precision="auto", threads=2), _fp32(PROXY_WEIGHTS, cache))
    return manager.select(frames)


@pytest.fixture(scope="session")
def seed_choice(cache, frames):
    manager = PrecisionManager(ModelOptions(precision="int8", threads=2), _fp32(SEED_WEIGHTS, cache))
    return manager.select(frames)


def test_trained_weights_pass_the_gate_and_the_race_decides(proxy_choice):
    results = {r.precision: r for r in proxy_choice.results}
    assert set(results) == LOW  # every low precision is built and gated, whatever the CPU flags say
    for r in results.values():
        assert r.passed, r.reason  # trained weights: int8 (reduce_range without VNNI) and bf16 are close to fp32
        assert r.frames == 16 and r.nmae < 0.035 and r.corr > 0.999
        assert r.raced and r.ms > 0 and r.fp32_ms > 0  # and each was timed against fp32 on the same frames
    assert_measured_choice(proxy_choice)
    if proxy_choice.precision == "fp32":
        assert "none that passed beat fp32" in proxy_choice.reason
    else:
        assert "fastest that passed and won" in proxy_choice.reason
        assert proxy_choice.result.ms == min(r.ms for r in results.values())


def test_random_weights_are_refused_or_lose_the_race_and_fp32_serves(seed_choice):
    results = {r.precision: r for r in seed_choice.results}
    assert set(results) == LOW  # int8 requested, refused, so bf16 was tried too (when it can be built)
    assert not results["int8"].passed and results["int8"].nmae > 0.2, results["int8"].summary()
    assert seed_choice.precision == "fp32" and "int8 REFUSED" in seed_choice.reason
    # bf16: refused where it is native (random weights amplify every rounding); where it is emulated its numbers
    # are fp32's, so it passes the gate - and then loses the race, which drops it with both times in the reason.
    assert_measured_choice(seed_choice)


def test_without_openvino_int8_runs_on_onnxruntime_and_bf16_is_left_out_with_the_reason(cache, frames):
    options = ModelOptions(precision="auto", precision_engine="onnxruntime", threads=2)
    manager = PrecisionManager(options, _fp32(PROXY_WEIGHTS, cache))
    assert manager.tries == ["int8"] and any(n.startswith("bf16 not built") for n in manager.notes)
    choice = manager.select(frames)
    assert [r.precision for r in choice.results] == ["int8"] and choice.results[0].passed
    assert "bf16 not built" in choice.reason
    assert_measured_choice(choice)
    if choice.precision == "int8":
        assert choice.backend.describe()["backend"] == "onnxruntime"


def test_int8_is_cached_by_weights_size_and_calibration(cache, frames, proxy_choice):
    fp32 = _fp32(PROXY_WEIGHTS, cache)
    again = Int8Model(fp32, frames, SETTINGS)
    first = again(192, 256)
    assert again.builds == 0 and fp32.exports == 0  # the auto choice above quantised it; reused from disk
    other = load_frame_set(VIDEO / "realshort.mp4", 8, 4)
    other_model = Int8Model(fp32, other, SETTINGS)
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
        "from dataclasses import replace\n"
        "from streamer.model.precision.cpu import detect\n"
        "from streamer.model.precision.quantize import DEFAULT_SETTINGS\n"
        "settings = replace(DEFAULT_SETTINGS, reduce_range=detect().reduce_range())\n"
        "b = build_candidate('int8', fp32, frames, threads=2, settings=settings, engine='openvino' if "
        f"{openvino_available()} else 'onnxruntime')\n"
        "d = b.infer(np.zeros((1, 3, 192, 256), np.float32))\n"
        "print('builds', b.model_file.builds, 'torch', 'torch' in sys.modules, d.shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env=subprocess_env())
    assert out.returncode == 0, out.stderr
    assert "builds 0 torch False (192, 256)" in out.stdout


def test_explicit_bf16_on_trained_weights(cache, frames):
    fp32 = _fp32(PROXY_WEIGHTS, cache)
    manager = PrecisionManager(ModelOptions(precision="bf16", threads=2), fp32)
    if not openvino_available():
        assert manager.tries == [] and "bf16 needs the openvino package" in manager.choice.reason
        return
    choice = manager.select(frames)
    assert [r.precision for r in choice.results] == ["bf16"] and choice.results[0].passed
    assert_measured_choice(choice)  # native bf16 wins ("bf16 requested"); emulated bf16 loses and fp32 serves
    assert ("bf16 requested" in choice.reason) == (choice.precision == "bf16")
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
    assert "WARNING" in refused.stderr and "--precision int8 requested, " in refused.stderr  # which ran, and why
    missing = _quantize(cache, PROXY_WEIGHTS)
    assert missing.returncode != 0 and "--calibration" in missing.stderr


def _infer(cache, tmp_path, *extra):
    return subprocess.run(cli("infer", str(tmp_path / "frame.png"), "--weights", str(SEED_WEIGHTS), "--threads", "2",
                              "--precision", "int8", "--output-dir", str(tmp_path / "out"), *extra),
                          capture_output=True, text=True, timeout=240, check=False,
                          env=subprocess_env(DEPTH_STREAMER_CACHE=str(cache.parent)))


def test_infer_never_ignores_an_explicit_precision_silently(cache, frames, seed_choice, tmp_path):
    cv2.imwrite(str(tmp_path / "frame.png"), frames.held_out[0])  # 640x480: the size seed_choice quantised for
    for extra, why in (((), "needs real frames: pass --calibration"), (("--calibration", str(FOOTAGE)), "REFUSED")):
        proc = _infer(cache, tmp_path, *extra)
        assert proc.returncode == 0, proc.stderr
        warning = [line for line in proc.stderr.splitlines() if "WARNING" in line and "--precision int8" in line]
        assert warning and "fp32 runs" in warning[0] and why in warning[0], proc.stderr
        meta = json.loads((tmp_path / "out" / "infer.json").read_text())["model"]
        assert meta["precision"] == "fp32" and meta["precision_requested"] == "int8" and why in meta["precision_reason"]
        assert (tmp_path / "out" / "frame.npy").is_file()


def test_the_openvino_layout_reaches_the_compiled_network(cache):
    fp32 = _fp32(PROXY_WEIGHTS, cache)
    for pinning in ("on", "off"):
        manager = PrecisionManager(ModelOptions(precision="bf16", openvino_pinning=pinning, threads=2), fp32)
        assert manager.layout == {"ENABLE_CPU_PINNING": pinning == "on"}
        if not openvino_available():
            assert manager.tries == []  # bf16 needs OpenVINO: left out, with the reason
            continue
        compiled = manager._builder("bf16")().compiled(192, 256)
        assert compiled.get_property("ENABLE_CPU_PINNING") is (pinning == "on")
        assert int(compiled.get_property("NUM_STREAMS")) == 1 and compiled.get_property("INFERENCE_NUM_THREADS") == 2


# The manager over fake backends (no network): re-checks on live frames, kept verdicts.
def test_manager_rechecks_live_frames_and_falls_back():
    fakes = {"int8": Fake(noise=0.01, delay=FAST_S, precision="int8"),
             "bf16": Fake(noise=0.01, delay=FAST_S, precision="bf16")}
    options = ModelOptions(precision="int8", recheck_s=60.0)
    manager = PrecisionManager(options, Fake(delay=FP32_S), ALL, build=lambda p, *a: fakes[p], has_openvino=True)
    frames = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), np.uint8) for i in range(12)]
    assert manager.wants_frames and manager.choice.precision == "fp32"  # fp32 until the build is done
    choice = manager.select(split(frames, 4), now=0.0)
    assert choice.precision == "int8" and manager.meta()["precision_error"]["passed"]
    assert not manager.recheck_due(30.0) and manager.recheck_due(61.0)
    assert manager.recheck(frames[:3], now=61.0) is None  # still passes
    fakes["int8"].noise = 40.0  # the scene moved where int8 falls apart
    changed = manager.recheck(frames[:3], now=122.0)
    assert changed.precision == "bf16" and "no longer passes" in changed.reason
    assert manager.meta()["precision"] == "bf16"


def test_a_kept_verdict_is_served_then_rechecked_and_dropped_when_it_fails(tmp_path):
    fakes = {"bf16": Fake(noise=0.01, delay=FAST_S, precision="bf16")}
    frames = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), np.uint8) for i in range(12)]

    def manager() -> PrecisionManager:
        return PrecisionManager(ModelOptions(precision="bf16"), Fake(delay=FP32_S), ALL, build=lambda p, *a: fakes[p],
                                cache=VerdictCache(tmp_path), source="/dev/video0", has_openvino=True)

    first = manager()
    size = first.net_size_for(frames[0])
    assert first.cached(size) is None
    assert first.select(split(frames, 4)).precision == "bf16"
    second = manager()
    verdict = second.cached(size)
    assert verdict is not None and verdict.precision == "bf16"
    assert second.adopt(verdict, size).precision == "bf16"  # served at once ...
    confirmed = second.confirm(frames[:4])  # ... then gated on this run's first frames
    assert confirmed.precision == "bf16" and "re-checked on the first 4 live frames" in confirmed.reason
    assert confirmed.result.passed and confirmed.result.won  # the race that put it there is kept
    fakes["bf16"].noise = 40.0  # this run's scene: the kept verdict no longer holds
    third = manager()
    third.adopt(third.cached(size), size)
    assert third.confirm(frames[:4]) is None and third.choice.precision == "fp32"
    assert "bf16 REFUSED" in third.choice.reason


def test_a_kept_preprocessing_is_served_only_while_model_preprocess_allows_it():
    kept = Verdict("fp32", "kept", None, preprocess="decoder-scaled")  # passed its gate and won, on the last run
    for request, served in (("auto", "decoder-scaled"), ("decoder-scaled", "decoder-scaled"), ("float32", "exact"),
                            ("exact", "exact")):  # the user changed model.preprocess since: exact, never the kept one
        manager = PrecisionManager(ModelOptions(precision="auto", preprocess=request), Fake(), ALL, has_openvino=True)
        manager.adopt(kept, (192, 256))
        assert manager.preprocess.mode == served, request


def test_the_fp32_sessions_are_released_while_a_low_precision_serves_and_rebuilt_for_each_recheck(cache):
    """The fp32 reference is needed only to decide and to re-check: once a low precision serves (the stage calls
    release_unused after its switch), its sessions go; a re-check's reference runs rebuild them, and they go again.
    While fp32 serves, nothing of it is released. The candidate here is a second ONNX Runtime backend on the same
    export (it passes the gate exactly); the race is off, so the choice does not depend on this machine's speed."""
    pictures = [np.random.default_rng(i).integers(0, 255, (96, 128, 3), np.uint8) for i in range(8)]
    frames = split(pictures, 3)
    options = ModelOptions(precision="int8", net_size=64, recheck_s=60.0)
    fp32 = OnnxRuntimeBackend(identify(SEED_WEIGHTS).sha256, lambda: build_network(read_state_dict(SEED_WEIGHTS)),
                              cache, threads=1)
    twin = OnnxRuntimeBackend(fp32.weights_sha256, fp32.onnx_file, cache, threads=1)  # never exports itself
    manager = PrecisionManager(options, fp32, ALL, build=lambda p, *a: twin, has_openvino=True)
    manager.race = False
    assert manager.select(frames, now=0.0).precision == "int8"
    assert fp32.open_sessions == 1  # the gate's reference runs
    live = list(frames.held_out)
    manager.release_unused()
    assert fp32.open_sessions == 0 and twin.open_sessions == 1  # what serves stays
    # int8 serves: its calibration frames stay for sizes not built yet, shrunk to network size; the gate's go
    assert manager.frames is frames and frames.held_out == [] and frames.held_out_pictures == []
    assert [f.shape[:2] for f in frames.calibration] == [manager.size] * 5  # the size the gate ran at
    assert manager.recheck(live, now=61.0) is None  # still passes: the reference ran again
    assert fp32.open_sessions == 1
    manager.release_unused()
    assert fp32.open_sessions == 0

    noisy = Fake(noise=40.0, precision="int8")  # refused: fp32 serves, and keeps its session
    serving = PrecisionManager(options, fp32, ALL, build=lambda p, *a: noisy, has_openvino=True)
    assert serving.select(split(pictures, 3)).precision == "fp32"
    serving.release_unused()
    assert fp32.open_sessions == 1 and serving.frames is None  # nothing will calibrate again: no frames kept
