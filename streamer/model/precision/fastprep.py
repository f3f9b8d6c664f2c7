"""Float32 preprocessing, adopted only by measurement: gated against the exact (float64) path like a precision.

The fp32 network runs on both inputs of the same held-out frames; the maps are judged by the precision gate
(gate.compare, same thresholds), and the two preprocessors are timed interleaved on those frames. float32 serves
when it passes and is faster; otherwise the exact path stays, and the reason says which and by how much.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamer.model.precision.gate import GateResult, Thresholds, compare
from streamer.model.preprocess import Preprocessor


@dataclass(frozen=True)
class PreprocessChoice:
    mode: str  # "exact" or "float32"
    result: GateResult | None
    exact_ms: float
    float32_ms: float

    @property
    def reason(self) -> str:
        if self.result is None:
            return "preprocessing exact (float32 not tried)"
        verdict = "passed" if self.result.passed else f"REFUSED ({self.result.reason})"
        return (f"preprocessing {self.mode}: float32 {verdict}, {self.result.summary()}; "
                f"{self.float32_ms:.2f} ms vs exact {self.exact_ms:.2f} ms a frame")


def _time(prep: Preprocessor, frames: Sequence[np.ndarray], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        for bgr in frames:
            t0 = time.perf_counter()
            prep(bgr)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def choose_preprocess(fp32_backend, frames: Sequence[np.ndarray], net_size: int,
                      thresholds: Thresholds) -> PreprocessChoice:
    """Gate and time float32 preprocessing against the exact one on these BGR frames (through the fp32 network)."""
    exact, fast = Preprocessor(net_size), Preprocessor(net_size, exact=False)
    reference = [fp32_backend.infer(exact(f)) for f in frames]
    candidate = [fp32_backend.infer(fast(f)) for f in frames]
    result = compare(reference, candidate, "float32 preprocessing", thresholds)
    exact_ms, fast_ms = 0.0, 0.0
    for _ in range(2):  # interleaved: sequential timings on a shared machine compare loads
        exact_ms += _time(exact, frames)
        fast_ms += _time(fast, frames)
    mode = "float32" if result.passed and fast_ms < exact_ms else "exact"
    return PreprocessChoice(mode, result, exact_ms / 2, fast_ms / 2)
