"""The steady-depth stage: raw network inverse depth in, temporally stable inverse depth and its color range out.

It works like this, once per frame (`Steadier.update`):
  1. align   - fit scale/shift of the raw map to the running estimate (robust LS on thumbnails). A frame that
               cannot be aligned (flat, anti-correlated, unrelated) is dropped as a glitch; after
               `max_rejected` of them in a row it is a scene cut, and the estimate restarts (re-seeds).
  2. temporal - blend the aligned map into the estimate (EMA; motion-aware so moving things leave no trail).
  3. range   - robust percentiles of the estimate, outlier-rejected and smoothed: the colorization range.
  4. bilateral - edge-preserving smoothing of a copy of the estimate; that copy is the output. The estimate
               itself stays unfiltered, so smoothing does not compound from frame to frame.
The estimate keeps the units of the frame that seeded it; alignment maps every later frame into them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.config.options import opt
from streamer.steady.align import FLAT_REFERENCE, fit_affine, thumbnail, thumbnail_shape
from streamer.steady.bilateral import smooth_edges
from streamer.steady.range_tracker import RangeTracker
from streamer.steady.temporal import TemporalFilter


@dataclass(frozen=True)
class SteadyOptions:
    align: bool = opt(True, "fit each frame's scale/shift to the running estimate (removes affine flicker)")
    ema_alpha: float = opt(0.25, "weight of a new frame in the running estimate (1 = no temporal smoothing)",
                           min=0.01, max=1.0)
    motion_aware: bool = opt(True, "let pixels that clearly changed follow the new frame at once (no ghosting)")
    motion_threshold: float = opt(3.0, "change treated as motion above this; full weight at twice it",
                                  unit="noise sigmas", min=0.5, max=100.0)
    bilateral: bool = opt(True, "edge-preserving spatial smoothing of the output")
    bilateral_d: int = opt(5, "bilateral neighbourhood diameter (cost grows with its square)", unit="px",
                           min=1, max=15)
    bilateral_sigma_color: float = opt(0.05, "bilateral value sigma as a fraction of the depth range",
                                       min=0.001, max=1.0)
    bilateral_sigma_space: float = opt(2.0, "bilateral spatial sigma", unit="px", min=0.1, max=20.0)
    range_low_pct: float = opt(2.0, "depth percentile mapped to the first color", unit="%", min=0.0, max=50.0)
    range_high_pct: float = opt(98.0, "depth percentile mapped to the last color", unit="%", min=50.0, max=100.0)
    range_alpha: float = opt(0.1, "EMA weight of a new frame's range (smaller = steadier colors, slower to adapt)",
                             min=0.01, max=1.0)
    max_rejected: int = opt(1, "consecutive frames that cannot be aligned dropped as glitches before the "
                               "estimate restarts from the new scene", unit="frames", min=0, max=30)

    def __post_init__(self) -> None:
        if not self.range_low_pct < self.range_high_pct:
            raise ValueError(f"range_low_pct ({self.range_low_pct}) must be below range_high_pct "
                             f"({self.range_high_pct})")


# SteadyResult.status values
ALIGNED = "aligned"  # blended into the estimate after alignment
UNALIGNED = "unaligned"  # blended as is (alignment switched off)
SEEDED = "seeded"  # restarted the estimate: first frame, reset, new shape, scene cut
REJECTED = "rejected"  # not used (could not be aligned, or no finite pixel); output repeats the estimate


@dataclass(frozen=True, slots=True)
class SteadyResult:
    """One steadied frame. `depth` is a new array the caller owns; the rest are plain values."""

    depth: np.ndarray  # float32 h x w relative inverse depth (bigger = nearer), in the estimate's units
    align: tuple[float, float]  # (scale, shift) applied to raw; (1, 0) unless status is ALIGNED
    depth_range: tuple[float, float]  # (lo, hi) to colorize against, smoothed over time
    motion_fraction: float  # share of pixels that followed the new frame as motion (0 when motion-aware is off)
    status: str  # ALIGNED, UNALIGNED, SEEDED or REJECTED
    note: str = ""  # why a frame was rejected, re-seeded or patched, for logs and stats


class Steadier:
    """Stateful steady-depth stage; `update` is the hot path. Not thread-safe by design: one worker thread owns
    it (the model worker), and only the returned `SteadyResult` crosses threads."""

    def __init__(self, options: SteadyOptions | None = None) -> None:
        self.options = o = options or SteadyOptions()
        self._temporal = TemporalFilter(o.ema_alpha, o.motion_aware, o.motion_threshold)
        self._range = RangeTracker(o.range_low_pct, o.range_high_pct, o.range_alpha)
        self._shape: tuple[int, int] | None = None
        self._aligned: np.ndarray | None = None
        self._thumb_raw: np.ndarray | None = None
        self._thumb_est: np.ndarray | None = None
        self._rejected = 0  # consecutive frames that could not be aligned

    def reset(self) -> None:
        """Forget the estimate and range (reconnect, new camera); the next frame seeds."""
        self._temporal.reset()
        self._range.reset()
        self._rejected = 0

    def _allocate(self, shape: tuple[int, int]) -> None:
        self.reset()
        self._shape = shape
        self._aligned = np.empty(shape, np.float32)
        tshape = thumbnail_shape(shape)
        self._thumb_raw = np.empty(tshape, np.float32)
        self._thumb_est = np.empty(tshape, np.float32)

    def update(self, raw: np.ndarray) -> SteadyResult:
        """Steady one raw network map (h x w, any real dtype; float32 avoids a copy)."""
        raw = np.ascontiguousarray(raw, dtype=np.float32)
        if raw.ndim != 2 or raw.size == 0:
            raise ValueError(f"raw depth must be a non-empty 2-D map, got shape {raw.shape}")
        if raw.shape != self._shape:
            self._allocate(raw.shape)  # new resolution: the old estimate means nothing here
        o, temporal = self.options, self._temporal
        note = ""
        bad = None
        if not np.isfinite(raw).all():
            raw, bad = self._patch_nonfinite(raw)
            if bad is None:
                return self._result((1.0, 0.0), 0.0, REJECTED, "no finite pixels")
            note = f"{np.count_nonzero(bad)} non-finite pixels kept their estimate"

        est = temporal.estimate
        status = SEEDED if est is None else ALIGNED if o.align else UNALIGNED
        scale, shift, motion = 1.0, 0.0, 0.0
        if status == ALIGNED:
            assert est is not None and self._thumb_raw is not None and self._thumb_est is not None
            fit = fit_affine(thumbnail(raw, self._thumb_raw.shape, self._thumb_raw),
                             thumbnail(est, self._thumb_est.shape, self._thumb_est),
                             ref_noise=temporal.noise_ratio)
            if fit.ok:
                scale, shift = fit.scale, fit.shift
                self._rejected = 0
            elif self._rejected < o.max_rejected and fit.reason != FLAT_REFERENCE:
                # Its units are unknown, so blending would smear two scales together: drop it as a glitch.
                self._rejected += 1
                return self._result((1.0, 0.0), 0.0, REJECTED, f"not aligned: {fit.reason}")
            else:  # still unalignable (or nothing worth keeping): a new scene, start over from it
                status, note = SEEDED, f"not aligned: {fit.reason}"
        if status == SEEDED:
            self._rejected = 0
            self._range.reset()
            temporal.seed(raw)
        else:
            aligned = self._aligned
            assert aligned is not None and est is not None
            np.multiply(raw, scale, out=aligned)
            aligned += shift
            if bad is not None:
                np.copyto(aligned, est, where=bad)  # unknown pixels keep their estimate
            motion = temporal.update(aligned)
        assert temporal.estimate is not None  # seeded or updated just above
        self._range.update(temporal.estimate)
        return self._result((scale, shift), motion, status, note)

    def _result(self, align: tuple[float, float], motion: float, status: str, note: str) -> SteadyResult:
        o, est = self.options, self._temporal.estimate
        if est is None:  # nothing usable seen yet (first frame all NaN): an all-zero map, flagged REJECTED
            assert self._shape is not None  # set by the first update
            est = np.zeros(self._shape, np.float32)
        depth = smooth_edges(est, self._range.range, d=o.bilateral_d, sigma_color=o.bilateral_sigma_color,
                             sigma_space=o.bilateral_sigma_space, enabled=o.bilateral)
        return SteadyResult(depth, (float(align[0]), float(align[1])), self._range.range, float(motion), status,
                            note)

    def _patch_nonfinite(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """A copy of `raw` with NaN/inf replaced by the finite median (neutral for the fit), plus the mask;
        mask None when no pixel is finite."""
        bad = ~np.isfinite(raw)
        if bad.all():
            return raw, None
        patched = raw.copy()
        patched[bad] = np.median(raw[~bad])
        return patched, bad
