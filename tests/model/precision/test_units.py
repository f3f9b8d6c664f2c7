"""Precision choice without the network: CPU flags, the gate's arithmetic, calibration sets, the fall-back order."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.model import DepthModel, ModelOptions
from streamer.model.precision.calibration import FrameCollector, load_frame_set, network_inputs, split
from streamer.model.precision.cpu import CpuFeatures, detect, parse_cpuinfo
from streamer.model.precision.gate import Thresholds, compare, frame_error
from streamer.model.precision.choose import choose, resolve_precision
from streamer.model.precision.manager import PrecisionManager
from streamer.model.weights import WeightsFile
from tests.conftest import VIDEO

ZEN4 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
        "flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni\n\n"
        "processor\t: 1\nflags\t\t: fpu\n")
SKYLAKE = "model name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512dq\n"
SPR = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx512f amx_bf16 amx_tile amx_int8\n"
ALL = CpuFeatures(frozenset({"avx512_vnni", "avx512_bf16"}), "test CPU")


def test_cpu_flags_decide_the_low_precisions():
    zen4, sky, spr = parse_cpuinfo(ZEN4), parse_cpuinfo(SKYLAKE), parse_cpuinfo(SPR)
    assert zen4.supported() == ["int8", "bf16"] and zen4.model == "AMD EPYC 9R14 96-Core Processor"
    assert "avx512_bf16" in zen4.reason("bf16")
    assert sky.supported() == [] and "lacks" in sky.reason("int8") and "avx512_vnni" in sky.reason("int8")
    assert spr.supported() == ["int8", "bf16"] and "amx_int8" in spr.reason("int8")
    assert parse_cpuinfo("").supported() == [] and parse_cpuinfo("").supports("fp32")
    assert detect("/nonexistent/cpuinfo").supported() == []


def test_resolve_precision_order_and_notes():
    assert resolve_precision("fp32", ALL)[0] == []
    assert resolve_precision("auto", ALL)[0] == ["int8", "bf16"]
    assert resolve_precision("int8", ALL)[0] == ["int8", "bf16"]  # falls back through bf16
    assert resolve_precision("bf16", ALL)[0] == ["bf16"]
    tries, notes = resolve_precision("auto", parse_cpuinfo(SKYLAKE))
    assert tries == [] and len(notes) == 2 and all("lacks" in n for n in notes)
    with pytest.raises(ValueError):
        resolve_precision("fp16", ALL)


def test_gate_aligns_scale_and_shift_and_flags_errors():
    rng = np.random.default_rng(0)
    ref = [rng.random((48, 64)).astype(np.float32) * 1000 for _ in range(4)]
    assert compare(ref, [r * 0.01 + 5 for r in ref]).nmae < 1e-6  # scale and shift are free
    ok = compare(ref, [r + rng.normal(0, 2, r.shape) for r in ref], "int8")
    assert ok.passed and 0 < ok.nmae < 0.035 and ok.corr > 0.999 and ok.frames == 4
    bad = compare(ref, [rng.random(r.shape) for r in ref], "int8")
    assert not bad.passed and "max_nmae" in bad.reason and "min_corr" in bad.reason
    one_bad = compare(ref, [ref[0] + rng.normal(0, 100, ref[0].shape), *ref[1:]], "bf16",
                      Thresholds(max_nmae=1.0, max_frame_nmae=0.2, min_corr=0.0))
    assert not one_bad.passed and "worst frame" in one_bad.reason  # the mean alone would pass
    flat = compare([np.ones((8, 8))] * 2, [np.ones((8, 8))] * 2)
    assert not flat.passed and flat.frames == 0 and "no held-out frame" in flat.reason
    assert frame_error(ref[0], np.full_like(ref[0], np.nan)) == (float("inf"), 0.0)
    assert not compare(ref[:1], [np.full_like(ref[0], np.nan)]).passed


def test_calibration_and_held_out_are_disjoint():
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(48)]
    fs = split(frames, 16)
    cal = {int(f[0, 0, 0]) for f in fs.calibration}
    held = {int(f[0, 0, 0]) for f in fs.held_out}
    assert len(fs.held_out) == 16 and len(fs.calibration) == 32 and not cal & held and len(cal | held) == 48
    assert max(held) - min(held) > 40  # interleaved through the source, not its tail
    real = load_frame_set(VIDEO / "realshort.mp4", 12, 6)
    assert len(real.calibration) == 12 and len(real.held_out) == 6
    cal_bytes = {f.tobytes() for f in real.calibration}
    assert not any(f.tobytes() in cal_bytes for f in real.held_out)
    assert real.digest() == load_frame_set(VIDEO / "realshort.mp4", 12, 6).digest()
    assert real.digest() != load_frame_set(VIDEO / "realshort.mp4", 10, 6).digest()


def test_network_inputs_fit_any_frame_to_the_size():
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    assert network_inputs([frame], 192, 256)[0].shape == (1, 3, 192, 256)  # the live path's own size
    assert network_inputs([frame], 160, 256)[0].shape == (1, 3, 160, 256)  # cropped to 16:10
    assert network_inputs([frame], 256, 128)[0].shape == (1, 3, 256, 128)


@pytest.mark.parametrize("kind", ["missing", "empty_dir", "not_video", "one_image"])
def test_bad_calibration_source_is_refused(tmp_path, kind):
    source = tmp_path / "src"
    if kind == "empty_dir":
        source.mkdir()
    elif kind == "not_video":
        source = tmp_path / "clip.mp4"
        source.write_bytes(b"this is not a video" * 100)
    elif kind == "one_image":
        source.mkdir()
        cv2.imwrite(str(source / "a.png"), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(StreamerError, match="calibration|frame"):
        load_frame_set(source, 8, 4)


def test_frame_collector_spreads_over_the_first_seconds():
    c = FrameCollector(5, 10.0)
    t = 0.0
    while not c.offer(np.full((2, 2, 3), int(t), np.uint8), 100.0 + t):
        t += 0.5
    assert [int(f[0, 0, 0]) for f in c.frames] == [0, 2, 4, 6, 8]


class Fake:
    """A backend whose output is the first input channel plus noise of a given size, after a fixed delay."""

    name = "onnxruntime"

    def __init__(self, noise: float = 0.0, delay: float = 0.0, precision: str = "fp32") -> None:
        self.noise, self.delay, self.precision = noise, delay, precision
        self.rng = np.random.default_rng(1)

    def infer(self, x):
        time.sleep(self.delay)
        base = x[0, 0].astype(np.float64) * 100 + x[0, 1] * 50
        return (base + self.rng.normal(0, self.noise, base.shape)).astype(np.float32)

    def describe(self):
        return {"backend": "fake", "precision": self.precision}


def _inputs(n=6):
    rng = np.random.default_rng(2)
    return [rng.random((1, 3, 24, 32)).astype(np.float32) for _ in range(n)]


def test_explicit_int8_falls_back_to_bf16_then_fp32_with_reasons():
    held = _inputs()
    good, bad = Fake(noise=0.01), Fake(noise=30.0)
    choice = choose(Fake(), {"int8": bad, "bf16": good}, held, requested="int8")
    assert choice.precision == "bf16" and choice.backend is good
    assert "int8 REFUSED" in choice.reason and "fell back" in choice.reason and "max_nmae" in choice.reason
    none = choose(Fake(), {"int8": bad, "bf16": Fake(noise=30.0)}, held, requested="int8")
    assert none.precision == "fp32" and "none passed" in none.reason and none.reason.count("REFUSED") == 2

    def broken():
        raise RuntimeError("compile failed")
    failed = choose(Fake(), {"int8": broken, "bf16": good}, held, requested="int8")
    assert failed.precision == "bf16" and "build failed: compile failed" in failed.reason


def test_auto_takes_the_fastest_passing_and_never_a_slower_one():
    held = _inputs(3)
    fp32 = Fake(delay=0.02)
    auto = choose(fp32, {"int8": Fake(noise=0.01, delay=0.002), "bf16": Fake(noise=0.01, delay=0.008)}, held)
    assert auto.precision == "int8" and "fastest" in auto.reason
    slow = choose(fp32, {"int8": Fake(noise=0.01, delay=0.04)}, held)
    assert slow.precision == "fp32" and "none beat fp32" in slow.reason


def test_manager_rechecks_live_frames_and_falls_back():
    fakes = {"int8": Fake(noise=0.01, precision="int8"), "bf16": Fake(noise=0.01, precision="bf16")}
    options = ModelOptions(precision="int8", recheck_s=60.0)
    manager = PrecisionManager(options, Fake(), ALL, build=lambda p, *a: fakes[p])
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


def test_depth_model_meta_carries_precision():
    model = DepthModel(Fake(), WeightsFile(path=VIDEO, sha256="0" * 64))
    assert model.meta["precision"] == "fp32"
    result = compare([np.arange(12.0).reshape(3, 4)], [np.arange(12.0).reshape(3, 4)], "int8")
    model.use_backend(Fake(precision="int8"), "int8", result)
    assert model.meta["precision"] == "int8" and model.meta["precision_error"]["nmae"] == 0.0
