"""choose.py without the network: the order of trying, the fall-back order, the race that drops what is not faster."""
from __future__ import annotations

import pytest

from streamer.model.precision.choose import choose, resolve_precision
from tests.model.precision.fakes import ALL, FAST_S, FP32_S, Fake, fake_inputs


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


def test_explicit_int8_falls_back_to_bf16_then_fp32_with_reasons():
    held = fake_inputs()
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
    held = fake_inputs(3)
    fp32 = Fake(delay=0.02)
    auto = choose(fp32, {"int8": Fake(noise=0.01, delay=0.002), "bf16": Fake(noise=0.01, delay=0.008)}, held)
    assert auto.precision == "int8" and "fastest" in auto.reason
    assert all(r.won and r.ms < r.fp32_ms for r in auto.results)
    slow = choose(fp32, {"int8": Fake(noise=0.01, delay=0.04)}, held)
    assert slow.precision == "fp32" and "none that passed beat fp32" in slow.reason


def test_an_emulated_precision_passes_the_gate_loses_the_race_and_is_dropped_with_its_time():
    # OpenVINO's "bf16" on an AVX2-only CPU: fp32's very numbers, only slower. Accuracy cannot refuse it; the race does.
    held = fake_inputs(3)
    for requested in ("auto", "bf16", "int8"):
        emulated = Fake(delay=0.03, precision="bf16")
        choice = choose(Fake(delay=FP32_S), {"bf16": emulated}, held, requested=requested)
        r = choice.result or choice.results[0]
        assert choice.precision == "fp32" and r.passed and r.nmae < 1e-6 and not r.won, choice.reason
        assert r.ms > r.fp32_ms and f"LOST the race: {r.ms:.1f} ms vs fp32 {r.fp32_ms:.1f} ms" in choice.reason
    # Re-checks judge accuracy only (the serving precision won its race already).
    assert choose(Fake(delay=FP32_S), {"bf16": Fake(delay=0.03)}, held, requested="bf16", race=False).precision \
        == "bf16"


def test_a_backend_with_streams_races_as_it_would_serve_them_at_once():
    """1.5x fp32's latency loses the race one request at a time; with two streams it serves two frames per latency
    (what the worker does with frames in flight), so per frame it wins (~0.75x: sleeps side by side, any load)."""
    held = fake_inputs()
    one = Fake(noise=0.01, delay=1.5 * FP32_S)
    assert choose(Fake(delay=FP32_S), {"bf16": one}, held, requested="bf16").precision == "fp32"
    two = Fake(noise=0.01, delay=1.5 * FP32_S)
    two.streams = 2
    choice = choose(Fake(delay=FP32_S), {"bf16": two}, held, requested="bf16")
    r = choice.result
    assert r is not None and r.won and choice.precision == "bf16"
    assert r.ms < 0.9 * r.fp32_ms
