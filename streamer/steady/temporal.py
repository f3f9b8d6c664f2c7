"""Exponential temporal smoothing of aligned depth maps, optionally motion-aware (no ghost trails).

A plain EMA removes flicker but drags moving things out into trails. In motion-aware mode each pixel's weight
for the new frame rises from `alpha` to 1 as |new - estimate| grows past `threshold` robust noise sigmas, so
static pixels are averaged and changed pixels follow the new frame at once.
"""
from __future__ import annotations

import cv2
import numpy as np

MAD_TO_SIGMA = 1.4826
NOISE_STRIDE = 4  # noise level from every 4th pixel each way: ~3k samples at 256x192, plenty for a median
NOISE_FLOOR = 1e-3  # sigma never below this fraction of the estimate's spread (noise-free synthetic input)


class TemporalFilter:
    """Owns the running estimate (float32, in the units of the frame that seeded it). Not thread-safe."""

    def __init__(self, alpha: float, motion_aware: bool = True, threshold: float = 3.0) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.motion_aware = motion_aware
        self.threshold = float(threshold)
        self.estimate: np.ndarray | None = None
        self.noise_ratio = 1.0  # estimate noise variance / one frame's; what the aligner needs to stay unbiased
        self._diff: np.ndarray | None = None
        self._weight: np.ndarray | None = None

    def reset(self) -> None:
        self.estimate = None
        self.noise_ratio = 1.0

    def seed(self, frame: np.ndarray) -> None:
        """Start over from `frame` (copied); buffers are reallocated only when the shape changed."""
        if self.estimate is None or self.estimate.shape != frame.shape:
            self.estimate = np.empty(frame.shape, np.float32)
            self._diff = np.empty(frame.shape, np.float32)
            self._weight = np.empty(frame.shape, np.float32)
        np.copyto(self.estimate, frame)
        self.noise_ratio = 1.0

    def update(self, frame: np.ndarray) -> float:
        """Blend `frame` (float32, already aligned) into the estimate in place; returns the fraction of pixels
        treated as moving (0.0 when motion-aware mode is off). A first frame or a new shape seeds instead."""
        est = self.estimate
        if est is None or est.shape != frame.shape:
            self.seed(frame)
            return 0.0
        a = self.alpha
        # Variance of an EMA of independent frames: v <- (1-a)^2 v + a^2, tending to a / (2 - a).
        self.noise_ratio = (1.0 - a) ** 2 * self.noise_ratio + a * a
        if not self.motion_aware:
            cv2.accumulateWeighted(frame, est, a)
            return 0.0

        d, w = self._diff, self._weight
        assert d is not None and w is not None
        np.subtract(frame, est, out=d)
        np.abs(d, out=w)
        sample = w[::NOISE_STRIDE, ::NOISE_STRIDE]
        spread = float(np.ptp(est[::NOISE_STRIDE, ::NOISE_STRIDE]))
        sigma = max(MAD_TO_SIGMA * float(np.median(sample)), NOISE_FLOOR * spread, 1e-30)
        # ramp = clip(z / t - 1, 0, 1) with z = |d| / sigma: 0 up to t sigmas (noise), 1 from 2t (motion).
        w *= 1.0 / (sigma * self.threshold)
        w -= 1.0
        np.clip(w, 0.0, 1.0, out=w)
        moving = np.count_nonzero(w) / w.size
        # weight = a + (1 - a) * ramp; estimate += weight * d
        w *= 1.0 - a
        w += a
        w *= d
        est += w
        return moving
