"""The value range a depth map is colorized against: robust percentiles, outlier-rejected and smoothed in time.

Per-frame min/max makes the whole picture pulse whenever one pixel or one frame misbehaves. We take low/high
percentiles of a subsample (hot pixels fall outside them), take the median of the last three frames' values
(a single outlier frame is dropped outright) and follow that with an EMA (no visible steps).
"""
from __future__ import annotations

import numpy as np

STRIDE = 4  # percentiles from every 4th pixel each way: ~3k samples at 256x192, < 0.5 % percentile error


class RangeTracker:
    """Tracks (lo, hi) for a stream of same-units depth maps; `reset()` when the units change. Not thread-safe."""

    def __init__(self, low_pct: float = 2.0, high_pct: float = 98.0, alpha: float = 0.1) -> None:
        if not 0.0 <= low_pct < high_pct <= 100.0:
            raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.pcts = (float(low_pct), float(high_pct))
        self.alpha = float(alpha)
        self._history = np.empty((3, 2), np.float64)
        self._count = 0
        self.lo = self.hi = 0.0

    def reset(self) -> None:
        self._count = 0
        self.lo = self.hi = 0.0

    def update(self, depth: np.ndarray) -> tuple[float, float]:
        """Measure `depth`'s percentiles and return the smoothed (lo, hi), with hi > lo always."""
        sample = depth[::STRIDE, ::STRIDE]
        sample = sample[np.isfinite(sample)] if not np.isfinite(sample.sum()) else sample
        if sample.size == 0:  # nothing to measure: keep what we had
            return self.range
        lo, hi = np.percentile(sample, self.pcts)
        if self._count == 0:
            self._history[:] = lo, hi  # so frame 2 alone cannot outvote frame 1 either
            self.lo, self.hi = float(lo), float(hi)
        else:
            self._history[self._count % 3] = lo, hi
            lo, hi = np.median(self._history, axis=0)
            self.lo += self.alpha * (float(lo) - self.lo)
            self.hi += self.alpha * (float(hi) - self.hi)
        self._count += 1
        return self.range

    @property
    def range(self) -> tuple[float, float]:
        # A flat map still needs a usable (non-empty) range for division downstream.
        pad = max(abs(self.lo), abs(self.hi)) * 1e-6 + 1e-30
        return (self.lo, self.hi) if self.hi - self.lo > pad else (self.lo - pad, self.lo + pad)
