"""Choosing the network precision by measurement: build each candidate, gate its accuracy against fp32 on held-out
real frames, race the ones that pass against fp32 on the same frames, keep the fastest that passes AND wins.

CPU features only set the order of trying and the settings (cpu.py); an emulated precision passes the gate (its
numbers are fp32's) and is then dropped with its measured time as the reason. `auto` gates every candidate and
takes the fastest winner; an explicit int8/bf16 takes the first winner in the fall-back order int8 -> bf16 -> fp32.
Everything here is slow (quantising, compiling, gating, racing): call it off the hot path.
"""
from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from streamer.core import timing
from streamer.model.interface import Backend, OnnxExport
from streamer.model.precision import REQUESTS
from streamer.model.precision.backends import engine_for, make_backend
from streamer.model.precision.calibration import FrameSet, network_inputs
from streamer.model.precision.cpu import CpuFeatures, detect
from streamer.model.precision.gate import DEFAULT_THRESHOLDS, GateResult, Thresholds, compare
from streamer.model.precision.quantize import DEFAULT_SETTINGS, QuantSettings, int8_file

log = logging.getLogger(__name__)


@dataclass
class Choice:
    precision: str
    backend: Backend
    results: list[GateResult] = field(default_factory=list)
    reason: str = ""

    @property
    def result(self) -> GateResult | None:
        return next((r for r in self.results if r.precision == self.precision), None)


def resolve_precision(requested: str, cpu: CpuFeatures | None = None, engine: str = "auto",
                      has_openvino: bool | None = None) -> tuple[list[str], list[str]]:
    """(low precisions to build, in the order to try them; notes: what is emulated here, what cannot be built)."""
    if requested not in REQUESTS:
        raise ValueError(f"precision {requested!r}: one of {', '.join(REQUESTS)}")
    if requested == "fp32":
        return [], ["fp32 requested"]
    cpu = cpu or detect()
    tries, notes = [], []
    for p in cpu.order(requested):
        try:
            engine_for(p, engine, cpu, has_openvino)
        except Exception as exc:
            notes.append(f"{p} not built: {exc}")
            continue
        if not cpu.native(p):
            notes.append(cpu.reason(p))
        tries.append(p)
    return tries, notes


class Int8Model:
    """(height, width) -> cached int8 file: the fp32 export for that size, calibrated on `frames` fitted to it."""

    def __init__(self, fp32_backend: OnnxExport, frames: FrameSet, settings: QuantSettings = DEFAULT_SETTINGS) -> None:
        self.fp32, self.frames, self.settings = fp32_backend, frames, settings
        self.builds = 0  # quantisations this object ran (cache misses)

    def __call__(self, height: int, width: int):
        path, built = int8_file(self.fp32.onnx_file(height, width),
                                lambda: network_inputs(self.frames.calibration, height, width),
                                self.frames.digest(), self.settings)
        self.builds += built
        return path


def build_candidate(precision: str, fp32_backend: OnnxExport, frames: FrameSet | None, threads: int = 0,
                    engine: str = "auto", settings: QuantSettings = DEFAULT_SETTINGS, cpu: CpuFeatures | None = None,
                    layout: dict | None = None):
    """A backend for `precision` over the fp32 backend's ONNX export (int8 needs calibration `frames`); `layout`:
    OpenVINO properties over backends.LAYOUT."""
    chosen = engine_for(precision, engine, cpu)
    if precision == "int8":
        if frames is None:
            raise ValueError("int8 needs calibration frames")
        return make_backend(chosen, Int8Model(fp32_backend, frames, settings), "int8", threads, layout)
    if precision == "bf16":
        return make_backend(chosen, fp32_backend.onnx_file, "bf16", threads, layout)
    raise ValueError(f"no low-precision backend for {precision!r}")


def _run(backend: Backend, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
    backend.infer(inputs[0])  # builds the session/compiled model for this size; not timed
    timed = [timing.timed(partial(backend.infer, x)) for x in inputs]
    return [m for m, _ in timed], statistics.median(ms for _, ms in timed)


def evaluate(reference: Sequence[np.ndarray], candidate, precision: str, inputs: Sequence[np.ndarray],
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> GateResult:
    maps, ms = _run(candidate, inputs)
    return compare(reference, maps, precision, thresholds, ms)


def choose(fp32_backend: Backend, candidates: Mapping[str, Backend | Callable[[], Backend]],
           held_out_inputs: Sequence[np.ndarray],
           thresholds: Thresholds = DEFAULT_THRESHOLDS, requested: str = "auto", notes: Sequence[str] = (),
           race: bool = True) -> Choice:
    """Gate each candidate (a backend, or a zero-argument builder of one) on the held-out inputs, then race the
    passing ones against fp32 (interleaved, on the same frame: sequential timings on a shared machine compare loads).

    `auto`: the fastest that passes and wins. Otherwise the first in the given (fall-back) order that passes and
    wins. fp32 when none does. `race=False` (re-checks of a precision that already won) judges accuracy only.
    The reason names every refusal and every lost race with its figures.
    """
    if not held_out_inputs:
        raise ValueError("the gate needs held-out frames")
    reference, _ = _run(fp32_backend, held_out_inputs)
    results: list[GateResult] = []
    backends: dict[str, Backend] = {}
    for precision, candidate in candidates.items():
        try:
            backend = candidate if isinstance(candidate, Backend) else candidate()
            result = evaluate(reference, backend, precision, held_out_inputs, thresholds)
        except Exception as exc:  # a failed build or compile refuses this precision, never the daemon
            log.warning("%s: could not build or run it: %s", precision, exc)
            result = GateResult(precision, float("nan"), float("nan"), float("nan"), 0, False, f"build failed: {exc}")
            backend = None
        if result.passed:
            assert backend is not None  # a failed build never passes
            backends[precision] = backend
            if race and requested != "auto":
                result = _raced([result], fp32_backend, backends, held_out_inputs[0])[0]
        results.append(result)
        if requested != "auto" and result.passed and (result.won or not race):
            break
    if race and requested == "auto" and any(r.passed for r in results):
        raced = iter(_raced([r for r in results if r.passed], fp32_backend, backends, held_out_inputs[0]))
        results = [next(raced) if r.passed else r for r in results]
    keep = [r for r in results if (r.won if race else r.passed)]
    if requested == "auto":
        keep.sort(key=lambda r: r.ms)
    parts = [*notes, *(r.verdict() for r in results)]
    if keep:
        best = keep[0]
        why = ("the fastest that passed and won" if requested == "auto"
               else f"{requested} requested" + ("" if best.precision == requested else ", fell back"))
        return Choice(best.precision, backends[best.precision], results, f"precision {best.precision} ({why}); "
                      + "; ".join(parts))
    if not results:
        tail = "no low precision to try"
    elif any(r.passed for r in results):
        tail = "none that passed beat fp32"
    else:
        tail = "none passed"
    return Choice("fp32", fp32_backend, results, f"precision fp32 ({tail}); " + "; ".join(parts))


def _raced(results: Sequence[GateResult], fp32_backend: Backend, backends: Mapping[str, Backend],
           x: np.ndarray) -> list[GateResult]:
    """Each contender as it would serve: a backend with n streams runs n requests at once (the worker keeps that
    many frames in flight), and its time is per frame (the call's wall time / n)."""
    contenders = {"fp32": fp32_backend, **{r.precision: backends[r.precision] for r in results}}
    with ThreadPoolExecutor(max(b.streams for b in contenders.values()), thread_name_prefix="race") as pool:
        def call(backend: Backend) -> Callable[[np.ndarray], object]:
            n = backend.streams
            return backend.infer if n == 1 else lambda v: list(pool.map(backend.infer, [v] * n))
        times = timing.race({name: call(b) for name, b in contenders.items()}, [x], rounds=5, runs=4)
    per_frame = {name: ms / contenders[name].streams for name, ms in times.items()}
    for r in results:
        n = backends[r.precision].streams
        log.info("race on %s: %s %.1f ms a frame%s, fp32 %.1f ms", "x".join(map(str, x.shape[2:])), r.precision,
                 per_frame[r.precision], f" ({n} at once)" if n > 1 else "", per_frame["fp32"])
    return [replace(r, ms=per_frame[r.precision], fp32_ms=per_frame["fp32"]) for r in results]
