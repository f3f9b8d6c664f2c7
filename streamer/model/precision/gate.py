"""The accuracy gate: is a low-precision network close enough to fp32 on real, held-out frames?

Per frame, the candidate map c is aligned to the fp32 map r by least squares (r ~ s*c + t, the same freedom the
steadier's range tracking has), then
    NMAE = mean|s*c + t - r| / mean|r - median(r)|      (scale-free: error relative to the map's own spread)
    corr = Pearson(c, r)                                 (alignment-invariant)
The gate takes the mean NMAE and mean corr over the frames and, separately, the worst frame's NMAE: a mean can
hide one scene where the candidate falls apart (flat scenes amplify NMAE, as the denominator is small).
Defaults (README.md, "Precision"): trained weights on real footage give int8 1.3-2.5 % mean, worst of 83 frames
10.8 %, corr >= 0.9995; bf16 0.5-1.8 %, worst 9.2 %, corr >= 0.9997. Random weights give >= 33 % mean, >= 37 %
worst, corr <= 0.93.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

MAX_NMAE = 0.035
MAX_FRAME_NMAE = 0.20
MIN_CORR = 0.999


@dataclass(frozen=True)
class Thresholds:
    max_nmae: float = MAX_NMAE
    max_frame_nmae: float = MAX_FRAME_NMAE
    min_corr: float = MIN_CORR


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class GateResult:
    precision: str
    nmae: float  # mean over frames
    worst_nmae: float  # the worst frame's
    corr: float  # mean over frames
    frames: int
    passed: bool
    reason: str
    ms: float = float("nan")  # the candidate's median latency on these frames (0 if not measured)
    fp32_ms: float = float("nan")  # fp32's median in the same race (NaN: not raced)

    @property
    def raced(self) -> bool:
        return self.fp32_ms == self.fp32_ms

    @property
    def won(self) -> bool:
        """Passed the gate and beat fp32 in the race on the same frames (what a serving low precision must do)."""
        return self.passed and self.raced and self.ms < self.fp32_ms

    def verdict(self) -> str:
        """One line: refused (and why), lost the race (with both times), or kept."""
        if not self.passed:
            return f"{self.precision} REFUSED: {self.summary()} ({self.reason})"
        if not self.raced:
            return f"{self.precision} passed: {self.summary()}"
        if not self.won:
            return (f"{self.precision} passed the gate but LOST the race: {self.ms:.1f} ms vs fp32 "
                    f"{self.fp32_ms:.1f} ms, dropped ({self.summary()})")
        return f"{self.precision} passed and won the race: {self.ms:.1f} ms vs fp32 {self.fp32_ms:.1f} ms " \
               f"({self.summary()})"

    def summary(self) -> str:
        if not self.frames:
            return "not measured"
        return (f"NMAE {self.nmae * 100:.2f} % (worst frame {self.worst_nmae * 100:.2f} %), "
                f"corr {self.corr:.5f} on {self.frames} held-out frames")

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def align(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """`candidate` mapped by the least-squares scale and shift that best fits `reference` (float64)."""
    r = reference.astype(np.float64).ravel()
    c = candidate.astype(np.float64).ravel()
    cm, rm = c.mean(), r.mean()
    var = np.mean((c - cm) ** 2)
    s = np.mean((c - cm) * (r - rm)) / var if var > 0 else 0.0
    return (s * (c - cm) + rm).reshape(candidate.shape)


def frame_error(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float] | None:
    """(NMAE, corr) for one frame; None when the fp32 map is flat (nothing to measure against)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"map shapes differ: {reference.shape} vs {candidate.shape}")
    r = reference.astype(np.float64)
    spread = np.mean(np.abs(r - np.median(r)))
    if not np.isfinite(spread) or spread <= 1e-12 * max(1.0, float(np.abs(r).max())):
        return None
    c = candidate.astype(np.float64)
    if not np.all(np.isfinite(c)):
        return float("inf"), 0.0
    nmae = float(np.mean(np.abs(align(r, c) - r)) / spread)
    cs = c.std()
    corr = float(np.corrcoef(r.ravel(), c.ravel())[0, 1]) if cs > 0 else 0.0
    return nmae, corr


def compare(reference_maps: Sequence[np.ndarray], candidate_maps: Sequence[np.ndarray], precision: str = "?",
            thresholds: Thresholds = Thresholds(), ms: float = 0.0) -> GateResult:
    """Judge `candidate_maps` against the fp32 `reference_maps` of the same held-out frames."""
    if len(reference_maps) != len(candidate_maps):
        raise ValueError(f"{len(reference_maps)} reference maps vs {len(candidate_maps)} candidate maps")
    errors = [e for r, c in zip(reference_maps, candidate_maps, strict=True) if (e := frame_error(r, c)) is not None]
    if not errors:
        return GateResult(precision, float("nan"), float("nan"), float("nan"), 0, False,
                          "no held-out frame has any depth variation in fp32: nothing to judge by", ms)
    nmaes = np.array([e[0] for e in errors])
    corrs = np.array([e[1] for e in errors])
    nmae, worst, corr = float(nmaes.mean()), float(nmaes.max()), float(corrs.mean())
    fails = []
    if not nmae <= thresholds.max_nmae:
        fails.append(f"NMAE {nmae * 100:.2f} % > max_nmae {thresholds.max_nmae * 100:.2f} %")
    if not worst <= thresholds.max_frame_nmae:
        fails.append(f"worst frame NMAE {worst * 100:.2f} % > max_frame_nmae {thresholds.max_frame_nmae * 100:.2f} %")
    if not corr >= thresholds.min_corr:
        fails.append(f"corr {corr:.5f} < min_corr {thresholds.min_corr:.5f}")
    reason = "; ".join(fails) if fails else "within max_nmae, max_frame_nmae and min_corr"
    return GateResult(precision, nmae, worst, corr, len(errors), not fails, reason, ms)
