"""Precision choice without the network: CPU flags, the gate's arithmetic, calibration sets, the fall-back order."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.model import DepthModel, ModelOptions
from streamer.model.precision import PrecisionState
from streamer.model.precision.calibration import FrameCollector, load_frame_set, network_inputs, split
from streamer.model.precision.cpu import CpuFeatures, detect, parse_cpuinfo
from streamer.model.precision.fastprep import choose_preprocess
from streamer.model.precision.gate import Thresholds, compare, frame_error
from streamer.model.precision.backends import engine_for
from streamer.model.precision.cache import VerdictCache
from streamer.model.precision.choose import choose, resolve_precision
from streamer.model.precision.manager import PrecisionManager
from streamer.model.weights import WeightsFile
from tests.conftest import VIDEO

CPUINFO = Path(__file__).parent / "cpuinfo"  # recorded /proc/cpuinfo texts of the CPU classes robots run on
ALL = CpuFeatures(frozenset({"avx512_vnni", "avx512_bf16"}), "test CPU", arch="x86")


def recorded(name: str) -> CpuFeatures:
    return parse_cpuinfo((CPUINFO / f"{name}.txt").read_text())


# name: (model, arch, int8 native, bf16 native, reduce_range, auto's order of trying, auto's int8 engine)
CPUS = {
    "zen3_epyc_7r13": ("AMD EPYC 7R13 Processor", "x86", False, False, True, ["int8", "bf16"], "openvino"),
    "zen4_epyc_9r14": ("AMD EPYC 9R14 96-Core Processor", "x86", True, True, False, ["int8", "bf16"], "openvino"),
    "sapphire_rapids_xeon_8488c": ("Intel(R) Xeon(R) Platinum 8488C", "x86", True, True, False, ["int8", "bf16"],
                                   "openvino"),
    "rpi5_cortex_a76": ("Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)", "arm", True, False, False, ["int8", "bf16"],
                        "onnxruntime"),
    "graviton3_neoverse_v1": ("Neoverse-V1", "arm", True, True, False, ["int8", "bf16"], "onnxruntime"),
    "jetson_agx_orin_cortex_a78ae": ("Cortex-A78AE", "arm", True, False, False, ["int8", "bf16"], "onnxruntime"),
}


@pytest.mark.parametrize("name", sorted(CPUS))
def test_recorded_cpuinfo_sets_settings_and_order_never_the_verdict(name):
    model, arch, int8, bf16, reduce_range, order, engine = CPUS[name]
    cpu = recorded(name)
    assert (cpu.model, cpu.arch, cpu.native("int8"), cpu.native("bf16")) == (model, arch, int8, bf16)
    assert cpu.reduce_range() is reduce_range and cpu.int8_engine() == engine
    assert cpu.order("auto") == order  # every low precision is tried: only the gate and the race decide
    assert cpu.order("int8") == ["int8", "bf16"] and cpu.order("bf16") == ["bf16"] and cpu.order("fp32") == []
    tries, notes = resolve_precision("auto", cpu, has_openvino=True)
    assert tries == order and len(notes) == (not int8) + (not bf16)  # one note per emulated precision
    assert all("emulated" in n and "race" in n for n in notes)
    assert engine_for("int8", "auto", cpu, has_openvino=False) == "onnxruntime"  # openvino absent: ORT runs int8
    # The key a verdict is cached under changes with the CPU: a verdict measured on one never serves another.
    assert cpu.identity() != recorded("zen3_epyc_7r13" if name != "zen3_epyc_7r13" else "zen4_epyc_9r14").identity()


def test_cpu_details_name_the_flags():
    zen3, zen4, pi = recorded("zen3_epyc_7r13"), recorded("zen4_epyc_9r14"), recorded("rpi5_cortex_a76")
    assert "avx512_bf16" in zen4.reason("bf16") and "asimddp" in pi.reason("int8")
    assert "lacks" in zen3.reason("int8") and "avx512_vnni" in zen3.reason("int8") and "emulated" in zen3.reason("bf16")
    assert recorded("graviton3_neoverse_v1").native("bf16") and "i8mm" in recorded("graviton3_neoverse_v1").flags
    assert "i8mm" not in recorded("jetson_agx_orin_cortex_a78ae").flags
    empty = parse_cpuinfo("")
    assert empty.arch == "" and not empty.native("int8") and empty.native("fp32") and empty.reduce_range()
    assert "cannot read" in detect("/nonexistent/cpuinfo").note
    assert parse_cpuinfo("processor: 0\nFeatures: fp asimd\nCPU implementer: 0x41\nCPU part: 0xfff\n").model == \
        "Arm CPU part 0xfff"


def test_resolve_precision_order_and_notes():
    assert resolve_precision("fp32", ALL)[0] == []
    assert resolve_precision("auto", ALL, has_openvino=True) == (["int8", "bf16"], [])
    assert resolve_precision("int8", ALL, has_openvino=True)[0] == ["int8", "bf16"]  # falls back through bf16
    assert resolve_precision("bf16", ALL, has_openvino=True)[0] == ["bf16"]
    # The engine chosen in the config (or openvino missing) leaves bf16 out, with the reason; int8 runs on ORT.
    for engine, has_ov in (("onnxruntime", True), ("auto", False)):
        tries, notes = resolve_precision("auto", ALL, engine, has_openvino=has_ov)
        assert tries == ["int8"] and len(notes) == 1 and notes[0].startswith("bf16 not built: bf16 needs"), notes
    tries, notes = resolve_precision("auto", ALL, "openvino", has_openvino=False)
    assert tries == [] and all("not installed" in n for n in notes)
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


FP32_S, FAST_S = 0.012, 0.002  # fake latencies: a candidate "wins" the race at FAST_S, "loses" above FP32_S


def test_explicit_int8_falls_back_to_bf16_then_fp32_with_reasons():
    held = _inputs()
    good, bad = Fake(noise=0.01, delay=FAST_S), Fake(noise=30.0, delay=FAST_S)
    choice = choose(Fake(delay=FP32_S), {"int8": bad, "bf16": good}, held, requested="int8")
    assert choice.precision == "bf16" and choice.backend is good and choice.result.won
    assert "int8 REFUSED" in choice.reason and "fell back" in choice.reason and "max_nmae" in choice.reason
    none = choose(Fake(delay=FP32_S), {"int8": bad, "bf16": Fake(noise=30.0)}, held, requested="int8")
    assert none.precision == "fp32" and "none passed" in none.reason and none.reason.count("REFUSED") == 2

    def broken():
        raise RuntimeError("compile failed")
    failed = choose(Fake(delay=FP32_S), {"int8": broken, "bf16": good}, held, requested="int8")
    assert failed.precision == "bf16" and "build failed: compile failed" in failed.reason


def test_auto_takes_the_fastest_that_passes_and_wins():
    held = _inputs(3)
    fp32 = Fake(delay=0.02)
    auto = choose(fp32, {"int8": Fake(noise=0.01, delay=0.002), "bf16": Fake(noise=0.01, delay=0.008)}, held)
    assert auto.precision == "int8" and "fastest" in auto.reason
    assert all(r.won and r.ms < r.fp32_ms for r in auto.results)
    slow = choose(fp32, {"int8": Fake(noise=0.01, delay=0.04)}, held)
    assert slow.precision == "fp32" and "none that passed beat fp32" in slow.reason


def test_an_emulated_precision_passes_the_gate_loses_the_race_and_is_dropped_with_its_time():
    # OpenVINO's "bf16" on an AVX2-only CPU: fp32's very numbers, only slower. Accuracy cannot refuse it; the race does.
    held = _inputs(3)
    for requested in ("auto", "bf16", "int8"):
        emulated = Fake(delay=0.03, precision="bf16")
        choice = choose(Fake(delay=FP32_S), {"bf16": emulated}, held, requested=requested)
        r = choice.result or choice.results[0]
        assert choice.precision == "fp32" and r.passed and r.nmae < 1e-6 and not r.won, choice.reason
        assert r.ms > r.fp32_ms and f"LOST the race: {r.ms:.1f} ms vs fp32 {r.fp32_ms:.1f} ms" in choice.reason
    # Re-checks judge accuracy only (the serving precision won its race already).
    assert choose(Fake(delay=FP32_S), {"bf16": Fake(delay=0.03)}, held, requested="bf16", race=False).precision \
        == "bf16"


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


def test_the_precision_state_is_read_only_and_has_one_writer():
    model = DepthModel(Fake(), WeightsFile(path=VIDEO, sha256="0" * 64))
    assert model.meta["precision"] == "fp32" and model.precision == PrecisionState()
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.precision.serving = "int8"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        model.precision = PrecisionState("int8")  # type: ignore[misc]
    switch = model.precision_switch()
    result = compare([np.arange(12.0).reshape(3, 4)], [np.arange(12.0).reshape(3, 4)], "int8")
    int8 = Fake(precision="int8")
    switch.set(PrecisionState("int8", "auto", reason="gated", error=result.as_dict(), origin="measured"), int8)
    assert model.backend is int8 and model.precision.serving == "int8"
    assert model.meta["precision"] == "int8" and model.meta["precision_error"]["nmae"] == 0.0
    newer = model.precision_switch()  # a reload's new stage: fp32 again, and the old writer is disabled
    assert model.backend is model.fp32_backend and model.precision.serving == "fp32"
    with pytest.raises(RuntimeError, match="replaced"):
        switch.set(PrecisionState("int8"), int8)
    assert newer.update(pending=True).pending and model.meta["precision_pending"]


def test_float32_preprocessing_is_gated_against_the_exact_path_and_timed():
    frames = load_frame_set(VIDEO / "realshort.mp4", 4, 4).held_out
    fp32 = Fake()  # a deterministic "network": a fixed linear map of the input
    choice = choose_preprocess(fp32, frames, 256, Thresholds())
    assert choice.result.passed and choice.result.nmae < 1e-4 and choice.result.frames == len(frames)
    assert choice.exact_ms > 0 and choice.float32_ms > 0
    assert choice.mode == ("float32" if choice.float32_ms < choice.exact_ms else "exact")  # faster AND passed
    assert f"{choice.float32_ms:.2f} ms vs exact {choice.exact_ms:.2f} ms" in choice.reason
    strict = choose_preprocess(fp32, frames, 256, Thresholds(max_nmae=0.0, max_frame_nmae=0.0, min_corr=1.0))
    assert strict.mode == "exact" and not strict.result.passed and "REFUSED" in strict.reason  # any error: refused


def test_the_model_preprocesses_as_its_state_says():
    fp32 = Fake()
    model = DepthModel(fp32, WeightsFile(path=VIDEO, sha256="0" * 64))
    bgr = load_frame_set(VIDEO / "realshort.mp4", 2, 2).held_out[0]
    exact = model.predict(bgr)
    model.precision_switch().update(preprocess="float32")
    fast = model.predict(bgr)
    assert model.meta["preprocess"] == "float32" and fast.shape == exact.shape
    assert 0 < np.abs(fast - exact).max() < 1e-3  # another path, numerically almost the same


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
