"""Per-frame scale/shift alignment of a relative depth map to the running estimate (robust least squares).

MiDaS-style networks predict inverse depth only up to an unknown affine transform that changes from frame to
frame; that drift, not pixel noise, is most of the visible flicker. We fit `ref ~ scale * src + shift` on small
thumbnails: a median-based start, then trim pixels that disagree (moving things, new objects) and refit. We
refuse to guess when the answer is meaningless (flat maps, NaN, anti-correlated or unrelated maps): the caller
then gets identity and a reason.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

THUMB_SAMPLES = 3000  # ~3k block-averaged samples fit in ~0.1 ms and pin scale to ~0.1 %; more buys nothing
MIN_SAMPLES = 32  # below this a 2-parameter robust fit is a guess
MIN_INLIER_FRACTION = 0.4  # if most of the frame disagrees with the estimate it is a new scene, not motion
MIN_CORRELATION = 0.5  # inliers this weakly related to the estimate carry no usable scale
TRIM_SIGMAS = 2.5  # residuals beyond this many robust sigmas are treated as motion, not noise
ITERATIONS = 3  # trim-and-refit rounds after the robust start; 2-3 converge
PAIRS = 2000  # pixel pairs for the robust starting slope
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> Gaussian sigma
FLAT_REFERENCE = "flat reference"  # the estimate has no structure: nothing to align to, nothing to protect


@dataclass(frozen=True, slots=True)
class AlignFit:
    """Result of one fit: `ref ~ scale * src + shift`. When `ok` is False scale/shift are identity and
    `reason` says why; the caller must not blend such a frame into an estimate kept in other units."""

    scale: float = 1.0
    shift: float = 0.0
    ok: bool = False
    reason: str = ""
    inlier_fraction: float = 0.0


def _fail(reason: str) -> AlignFit:
    return AlignFit(1.0, 0.0, False, reason, 0.0)


def thumbnail_shape(shape: tuple[int, int], samples: int = THUMB_SAMPLES) -> tuple[int, int]:
    """(h, w) of a block-averaged thumbnail with about `samples` pixels (never larger than `shape`).
    The block size is a whole number so INTER_AREA averages exact, equal blocks."""
    h, w = shape
    factor = max(1, round(math.sqrt(h * w / samples)))
    return max(1, h // factor), max(1, w // factor)


def thumbnail(depth: np.ndarray, shape: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Block-average `depth` down to `shape`. Averaging, not striding: it divides white noise variance by the
    block size, and noise in `src` is what biases a least-squares scale (regression dilution)."""
    h, w = shape
    if depth.shape == (h, w):
        if out is None:
            return depth.copy()
        np.copyto(out, depth)
        return out
    return cv2.resize(depth, (w, h), dst=out, interpolation=cv2.INTER_AREA)


def _slope(sxx: float, syy: float, sxy: float, delta: float) -> float:
    """Deming regression slope; `delta` = var(noise in ref) / var(noise in src), in raw units.

    Plain least squares (delta -> inf) assumes `src` is noise-free and underestimates the scale by
    var(signal) / (var(signal) + var(noise)); fed back through a running estimate that shrinks the estimate's
    contrast a little every frame, forever. Deming with the right noise ratio has no such bias."""
    if not math.isfinite(delta):
        return sxy / sxx
    d = syy - delta * sxx
    return (d + math.sqrt(d * d + 4.0 * delta * sxy * sxy)) / (2.0 * sxy)


@functools.lru_cache(maxsize=8)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed pseudo-random sample pairs for `n` samples: deterministic, and drawn once per thumbnail size."""
    rng = np.random.default_rng(n)
    return rng.integers(0, n, PAIRS), rng.integers(0, n, PAIRS)


def _initial_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Theil-Sen style start: median slope over random pixel pairs, then median offset.

    Least squares cannot be the start: a near object covering a quarter of the view sits far out in x and
    drags the slope so far that no residual stands out, and trimming never starts. Medians tolerate ~30 %."""
    i, j = _pairs(x.size)
    dx, dy = x[i] - x[j], y[i] - y[j]
    usable = np.abs(dx) > 1e-6 * (np.abs(x[i]) + np.abs(x[j]))
    if np.count_nonzero(usable) < MIN_SAMPLES:
        return math.nan, math.nan
    scale = float(np.median(dy[usable] / dx[usable]))
    return scale, float(np.median(y - scale * x))


def fit_affine(src: np.ndarray, ref: np.ndarray, *, ref_noise: float = math.inf) -> AlignFit:
    """Robustly fit `ref ~ scale * src + shift` (arrays of equal shape, ideally ~3k-pixel thumbnails).

    `ref_noise` is the noise variance of `ref` relative to that of an aligned `src` (1 for a single frame,
    about alpha / (2 - alpha) for an exponential average; inf gives plain least squares). Non-finite pixels are
    ignored. Never raises on bad data: returns identity with `ok=False` and a reason instead."""
    x = np.asarray(src, dtype=np.float64).ravel()
    y = np.asarray(ref, dtype=np.float64).ravel()
    if x.shape != y.shape:
        return _fail(f"shape mismatch {src.shape} vs {ref.shape}")
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        x, y = x[finite], y[finite]
    n = x.size
    if n < MIN_SAMPLES:
        return _fail("too few finite pixels")
    # Flat means "no structure to align", judged relative to the values' magnitude (float32 round-off).
    x_std, y_std = float(x.std()), float(y.std())
    if not x_std > 1e-6 * abs(float(x.mean())):
        return _fail("flat input")
    if not y_std > 1e-6 * abs(float(y.mean())):
        return _fail(FLAT_REFERENCE)

    scale, shift = _initial_fit(x, y)
    if not scale > 0.0:  # also catches NaN
        return _fail("negative scale")
    corr, inliers = 0.0, 0
    for _ in range(ITERATIONS):
        residual = np.abs(y - (scale * x + shift))
        # Floor: residuals at float32 round-off level are never "motion" (exact synthetic fits).
        sigma = max(MAD_TO_SIGMA * float(np.median(residual)), 1e-5 * y_std)
        keep = residual <= TRIM_SIGMAS * sigma
        inliers = int(np.count_nonzero(keep))
        if inliers < MIN_SAMPLES:
            return _fail("too few consistent pixels")
        xs, ys = x[keep], y[keep]
        mx, my = float(xs.mean()), float(ys.mean())
        dx, dy = xs - mx, ys - my
        sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
        if sxy <= 0.0 or sxx <= 0.0 or syy <= 0.0:
            return _fail("negative scale" if sxy < 0.0 else "flat consistent region")
        # The noise ratio is defined in aligned units; convert with the current scale estimate.
        scale = _slope(sxx, syy, sxy, ref_noise * scale * scale)
        shift = my - scale * mx
        corr = sxy / math.sqrt(sxx * syy)

    if not (math.isfinite(scale) and math.isfinite(shift)):
        return _fail("non-finite fit")
    fraction = inliers / n
    if fraction < MIN_INLIER_FRACTION:
        return _fail(f"only {fraction:.0%} of pixels agree with the estimate")
    if corr < MIN_CORRELATION:
        return _fail(f"weak correlation {corr:.2f} with the estimate")
    return AlignFit(scale, shift, True, "", fraction)
