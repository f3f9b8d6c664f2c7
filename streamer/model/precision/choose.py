"""Choosing the network precision: which to try on this CPU, building each, gating it against fp32, falling back.

Fall-back order int8 -> bf16 -> fp32. `auto` tries every low precision the CPU runs natively and takes the fastest
that passes the gate and beats fp32 on the same frames; an explicit int8/bf16 takes the first that passes from
there down. Everything here is slow (quantising, compiling, gating): call it off the hot path.
"""
from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from streamer.model.precision.calibration import FrameSet, network_inputs
from streamer.model.precision.cpu import CpuFeatures, detect
from streamer.model.precision.gate import DEFAULT_THRESHOLDS, GateResult, Thresholds, compare
from streamer.model.precision.backends import engine_for, make_backend
from streamer.model.precision.quantize import DEFAULT_SETTINGS, QuantSettings, int8_file

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "int8")
FALLBACK = ("int8", "bf16", "fp32")


@dataclass
class Choice:
    precision: str
    backend: object
    results: list[GateResult] = field(default_factory=list)
    reason: str = ""

    @property
    def result(self) -> GateResult | None:
        return next((r for r in self.results if r.precision == self.precision), None)


def resolve_precision(requested: str, cpu: CpuFeatures | None = None,
                      engine: str = "auto") -> tuple[list[str], list[str]]:
    """(low precisions to try, in fall-back order; one note per precision left out and why)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return [], ["fp32 requested"]
    cpu = cpu or detect()
    order = FALLBACK[:-1] if requested == "auto" else FALLBACK[FALLBACK.index(requested):-1]
    tries, notes = [], []
    for p in order:
        if not cpu.supports(p):
            notes.append(cpu.reason(p))
            continue
        try:
            engine_for(p, engine)
        except Exception as exc:
            notes.append(f"{p}: {exc}")
            continue
        tries.append(p)
    return tries, notes


class Int8Model:
    """(height, width) -> cached int8 file: the fp32 export for that size, calibrated on `frames` fitted to it."""

    def __init__(self, fp32_backend, frames: FrameSet, settings: QuantSettings = DEFAULT_SETTINGS) -> None:
        self.fp32, self.frames, self.settings = fp32_backend, frames, settings
        self.builds = 0  # quantisations this object ran (cache misses)

    def __call__(self, height: int, width: int):
        path, built = int8_file(self.fp32.onnx_file(height, width),
                                lambda: network_inputs(self.frames.calibration, height, width),
                                self.frames.digest(), self.settings)
        self.builds += built
        return path


def build_candidate(precision: str, fp32_backend, frames: FrameSet | None, threads: int = 0, engine: str = "auto",
                    settings: QuantSettings = DEFAULT_SETTINGS):
    """A backend for `precision` over the fp32 backend's ONNX export (int8 needs calibration `frames`)."""
    chosen = engine_for(precision, engine)
    if precision == "int8":
        if frames is None:
            raise ValueError("int8 needs calibration frames")
        return make_backend(chosen, Int8Model(fp32_backend, frames, settings), "int8", threads)
    if precision == "bf16":
        return make_backend(chosen, fp32_backend.onnx_file, "bf16", threads)
    raise ValueError(f"no low-precision backend for {precision!r}")


def _run(backend, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
    backend.infer(inputs[0])  # builds the session/compiled model for this size; not timed
    maps, times = [], []
    for x in inputs:
        t0 = time.perf_counter()
        maps.append(backend.infer(x))
        times.append((time.perf_counter() - t0) * 1e3)
    return maps, statistics.median(times)


def _race(backends: Mapping[str, object], x: np.ndarray, rounds: int = 5, runs: int = 4) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in backends}
    for _ in range(rounds):
        for name, backend in backends.items():
            for _ in range(runs):
                t0 = time.perf_counter()
                backend.infer(x)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def evaluate(reference: Sequence[np.ndarray], candidate, precision: str, inputs: Sequence[np.ndarray],
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> GateResult:
    maps, ms = _run(candidate, inputs)
    return compare(reference, maps, precision, thresholds, ms)


def choose(fp32_backend, candidates: Mapping[str, object | Callable[[], object]], held_out_inputs: Sequence[np.ndarray],
           thresholds: Thresholds = DEFAULT_THRESHOLDS, requested: str = "auto", notes: Sequence[str] = ()) -> Choice:
    """Gate each candidate (a backend, or a zero-argument builder of one) on the held-out inputs.

    `auto`: the fastest passing candidate that beats fp32 on these frames. Otherwise the first passing one in the
    given (fall-back) order. fp32 when none passes. The reason names every refusal.
    """
    if not held_out_inputs:
        raise ValueError("the gate needs held-out frames")
    reference, fp32_ms = _run(fp32_backend, held_out_inputs)
    results: list[GateResult] = []
    backends: dict[str, object] = {}
    for precision, candidate in candidates.items():
        try:
            backend = candidate() if callable(candidate) and not hasattr(candidate, "infer") else candidate
            result = evaluate(reference, backend, precision, held_out_inputs, thresholds)
        except Exception as exc:  # a failed build or compile refuses this precision, never the daemon
            log.warning("%s: could not build or run it: %s", precision, exc)
            result = GateResult(precision, float("nan"), float("nan"), float("nan"), 0, False, f"build failed: {exc}")
            backend = None
        results.append(result)
        if result.passed:
            backends[precision] = backend
            if requested != "auto":
                break
    passing = [r for r in results if r.passed]
    if requested == "auto" and passing:
        # Re-time the passing ones and fp32 interleaved: sequential timings on a shared machine compare loads.
        race = _race({"fp32": fp32_backend, **{r.precision: backends[r.precision] for r in passing}},
                     held_out_inputs[0])
        fp32_ms = race["fp32"]
        results = [replace(r, ms=race[r.precision]) if r.precision in race else r for r in results]
        passing = sorted((r for r in results if r.passed and r.ms < fp32_ms), key=lambda r: r.ms)
    parts = list(notes)
    for r in results:
        verdict = "passed" if r.passed else "REFUSED"
        parts.append(f"{r.precision} {verdict}: {r.summary()}" + ("" if r.passed else f" ({r.reason})"))
    if passing:
        best = passing[0]
        why = (f"the fastest passing, {best.ms:.1f} ms vs fp32 {fp32_ms:.1f} ms" if requested == "auto"
               else f"{requested} requested" + ("" if best.precision == requested else ", fell back"))
        return Choice(best.precision, backends[best.precision], results, f"precision {best.precision} ({why}); "
                      + "; ".join(parts))
    tail = "none passed" if results else "no low precision to try"
    if requested == "auto" and any(r.passed for r in results):
        tail = f"none beat fp32 ({fp32_ms:.1f} ms)"
    return Choice("fp32", fp32_backend, results, f"precision fp32 ({tail}); " + "; ".join(parts))
