"""Float32 preprocessing, adopted only by measurement: gated against the exact (float64) path like a precision.

The fp32 network runs on both inputs of the same held-out frames; the maps are judged by the precision gate
(gate.compare, same thresholds), and the two preprocessors are timed interleaved on those frames. float32 serves
when it passes and is faster; otherwise the exact path stays, and the reason says which and by how much.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamer.core import timing
from streamer.model.interface import Backend
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


def choose_preprocess(fp32_backend: Backend, frames: Sequence[np.ndarray], net_size: int,
                      thresholds: Thresholds) -> PreprocessChoice:
    """Gate and time float32 preprocessing against the exact one on these BGR frames (through the fp32 network)."""
    exact, fast = Preprocessor(net_size), Preprocessor(net_size, exact=False)
    reference = [fp32_backend.infer(exact(f)) for f in frames]
    candidate = [fp32_backend.infer(fast(f)) for f in frames]
    result = compare(reference, candidate, "float32 preprocessing", thresholds)
    ms = timing.race({"exact": exact, "float32": fast}, frames, rounds=6)  # interleaved, on the same frames
    mode = "float32" if result.passed and ms["float32"] < ms["exact"] else "exact"
    return PreprocessChoice(mode, result, ms["exact"], ms["float32"])
