"""Metric scale and shift for relative inverse depth: 1 / z = scale * d + shift, fitted robustly from known depths.

MiDaS-style networks predict inverse depth up to an unknown scale and shift (isl-org/MiDaS #37, #42), so a few
pixels whose true depth is known fix both. Known depths come from sparse anchors (a rangefinder, a ToF, a tag) or
from the floor: a plane's inverse depth is affine in the normalised pixel coordinates, and the mount says which
plane the floor is (`Mount.floor_inverse_depth`). Two robust line fits in inverse depth serve them:
- `fit_line` (the floor: many candidates, most of them wrong): RANSAC over pairs scored by relative depth error,
  then least squares on the inliers, weighted so that every point counts by its relative error;
- `fit_anchors` (anchors: few points, most of them right, on a noisy map): the least-median pair (LMedS), then an
  M-estimator (Cauchy weights, IRLS) on the same loss as the oracle, so that every good anchor keeps counting and
  only gross outliers lose their weight.
The result says how many points it used, how many agreed and how well (`AnchorFit`): that is what every metric
output publishes beside the map.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from streamer.geometry.anchor_fit import MODES, AnchorFit  # noqa: F401  (their home was here: re-exported)

MIN_POINTS = 2  # scale and shift: two unknowns
CAUCHY_C = 2.385  # the Cauchy weight's constant in robust sigmas: 95 % efficiency on Gaussian noise
GROSS_WEIGHT = 0.1  # a Cauchy weight below this (over 3 c = 7.2 robust sigmas off the fit): a gross outlier


@dataclass(frozen=True, slots=True)
class LineFit:
    """A robust fit of target inverse depths g against relative values d: g ~ scale * d + shift."""

    ok: bool
    scale: float = 0.0
    shift: float = 0.0
    inliers: np.ndarray | None = None  # bool mask over the input points
    residual: float = float("nan")  # median |pred / g - 1| over the inliers
    reason: str = ""
    weights: np.ndarray | None = None  # fit_anchors: each point's final weight in the fit (0: a gross outlier)


def fit_line(d: np.ndarray, g: np.ndarray, *, tol: float = 0.1, hypotheses: int = 256, min_spread: float = 0.02,
             rng: np.random.Generator | None = None) -> LineFit:
    """Robust g ~ scale * d + shift with scale > 0 (bigger relative value = nearer = bigger inverse depth).

    `tol`: a point agrees when its predicted inverse depth is within this relative error of its own. Every pair is
    tried when there are few points, else `hypotheses` random pairs (seeded `rng`: the same frame gives the same
    fit). `min_spread`: the agreeing points' relative values must span at least this share of their level, else
    the layout is degenerate (all at one depth: scale and shift cannot be told apart). The hypothesis most points
    agree with wins (RANSAC: many points, most of them wrong, as floor candidates are)."""
    d, g, pairs = _pair_lines(d, g, hypotheses, min_spread, rng)
    if isinstance(pairs, LineFit):
        return pairs
    s, t = pairs
    rel = np.abs(s[:, None] * d[None] + t[:, None] - g[None]) / g[None]
    agree = rel <= tol
    best = int(np.argmax(agree.sum(axis=1)))
    inl = agree[best]
    fit = (float(s[best]), float(t[best]))
    for step in range(3):  # least squares on the agreeing points, then twice more with the points agreeing with it
        if step == 2:  # the last round keeps only points within 3 robust sigmas of the fit (when that is tighter)
            r = np.abs(fit[0] * d[inl] + fit[1] - g[inl]) / g[inl]
            tol = min(tol, max(3.0 * 1.4826 * float(np.median(r)), 1e-3))
            tight = np.abs(fit[0] * d + fit[1] - g) <= tol * g
            if tight.sum() < max(MIN_POINTS, 0.5 * inl.sum()):
                break
            inl = tight
        refit = _weighted_ls(d[inl], g[inl])
        if refit is None:
            return LineFit(False, reason=_degenerate(d[inl]))
        if refit[0] <= 0:  # the agreeing points pull the slope negative (a map that is wrong there): keep the pair
            break
        fit = refit
        new = np.abs(fit[0] * d + fit[1] - g) <= tol * g
        if step == 2 or new.sum() < MIN_POINTS:
            break
        inl = new
    return _result(d, g, fit, inl, min_spread)


def fit_anchors(d: np.ndarray, g: np.ndarray, *, tol: float = 0.1, hypotheses: int = 256, min_spread: float = 0.02,
                rng: np.random.Generator | None = None, iterations: int = 20) -> LineFit:
    """Robust g ~ scale * d + shift (scale > 0) from a few points, most of them right, on a map that may be noisy.

    The loss is the oracle's (`oracle_fit`): squared error in inverse depth, made robust. The pair (every pair when
    there are few, else `hypotheses` seeded ones) with the least median error starts it (LMedS; ties, as with three
    points, go to the least mean error). Its robust sigmas (Rousseeuw's small-sample MAD, never below `tol` relative
    error) of the inverse-depth error and of the log depth ratio scale two Cauchy weights 1 / (1 + (r / c sigma)^2);
    a point weighs the smaller, so it must agree in inverse depth (what the loss sees) and in relative depth (a
    reading 3x too far is a small inverse-depth error). IRLS re-fits until the fit settles. A weight below
    `GROSS_WEIGHT` (over 3 c sigma off) marks a gross outlier: it gets none. The inliers are the points with a
    weight: on a noisy map every good anchor keeps its say (hard rejection at a few sigmas threw good ones away).
    Fewer than a majority of inliers: no fit (the map is too wrong there for any line to be trusted)."""
    d, g, pairs = _pair_lines(d, g, hypotheses, min_spread, rng)
    if isinstance(pairs, LineFit):
        return pairs
    s, t = pairs
    err = np.abs(s[:, None] * d[None] + t[:, None] - g[None])
    med = np.median(err, axis=1)
    best = int(np.lexsort((err.mean(axis=1), med))[0])
    fit = (float(s[best]), float(t[best]))
    k = 1.4826 * (1.0 + 5.0 / max(d.size - 2, 1))
    sigma = (max(k * float(med[best]), tol * float(np.median(g)) / CAUCHY_C),
             max(k * float(np.median(_log_ratio(fit, d, g))), tol / CAUCHY_C))
    for _ in range(iterations):
        refit = _weighted_ls_abs(d, g, _weights(fit, d, g, sigma))
        if refit is None or refit[0] <= 0:  # too few weighted points, or they pull the slope negative: keep the last
            break
        settled = abs(refit[0] - fit[0]) <= 1e-9 * abs(fit[0]) and abs(refit[1] - fit[1]) <= 1e-9 * abs(g).max()
        fit = refit
        if settled:
            break
    inl = (w := _weights(fit, d, g, sigma)) > 0
    if 2 * inl.sum() <= d.size:  # past LMedS's breakdown point: no line that most anchors agree with
        return LineFit(False, reason=f"only {inl.sum()} of {d.size} anchors agree with the map's best line (a "
                                     "majority must): the relative map and the anchors disagree")
    return replace(_result(d, g, fit, inl, min_spread), weights=w)


def _log_ratio(fit: tuple[float, float], d: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.abs(np.log(np.maximum(fit[0] * d + fit[1], 1e-12) / g))  # a prediction at or past infinity: huge


def _weights(fit: tuple[float, float], d: np.ndarray, g: np.ndarray, sigma: tuple[float, float]) -> np.ndarray:
    """The smaller of the Cauchy weights of the inverse-depth error and of the log depth ratio; 0 when gross."""
    w = 1.0 / (1.0 + (np.maximum(np.abs(fit[0] * d + fit[1] - g) / sigma[0],
                                 _log_ratio(fit, d, g) / sigma[1]) / CAUCHY_C) ** 2)
    w[w < GROSS_WEIGHT] = 0.0
    return w


def _pair_lines(d, g, hypotheses: int, min_spread: float, rng: np.random.Generator | None):
    """(d, g as float64 vectors, (scales, shifts) of the lines through pairs of points with a positive scale), or
    the failure as a LineFit in place of the lines."""
    d = np.asarray(d, dtype=np.float64).ravel()
    g = np.asarray(g, dtype=np.float64).ravel()
    n = d.size
    if n < MIN_POINTS:
        return d, g, LineFit(False, reason=f"{n} usable point{'s' if n != 1 else ''}, the fit needs at least "
                                           f"{MIN_POINTS}")
    i, j = _pairs(n, hypotheses, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (g[i] - g[j]) / (d[i] - d[j])
        t = g[i] - s * d[i]
    good = np.isfinite(s) & np.isfinite(t) & (s > 0)
    if not good.any():
        if n == MIN_POINTS or np.ptp(d) <= min_spread * max(np.abs(d).max(), 1e-12):
            return d, g, LineFit(False, reason=_degenerate(d))
        return d, g, LineFit(False, reason="no pair of points gives a positive scale (relative and true depth "
                                           "disagree)")
    return d, g, (s[good], t[good])


def _result(d: np.ndarray, g: np.ndarray, fit: tuple[float, float], inl: np.ndarray, min_spread: float) -> LineFit:
    span = np.ptp(d[inl]) / max(np.abs(d[inl]).mean(), 1e-12) if inl.any() else 0.0
    if span < min_spread:
        return LineFit(False, reason=_degenerate(d[inl]))
    pred = fit[0] * d[inl] + fit[1]
    residual = float(np.median(np.abs(g[inl] / pred - 1.0)))  # relative z error: z_fit / z - 1 = g / pred - 1
    return LineFit(True, float(fit[0]), float(fit[1]), inl, residual)


def _degenerate(d: np.ndarray) -> str:
    return ("degenerate layout: the points' relative depths are (nearly) all the same, so scale and shift cannot "
            f"be told apart (spread {np.ptp(d):.3g} around {np.abs(d).mean() if d.size else 0:.3g}); use points at "
            "different distances")


def _pairs(n: int, hypotheses: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    if n * (n - 1) // 2 <= hypotheses:
        i, j = np.triu_indices(n, k=1)
        return i, j
    rng = rng if rng is not None else np.random.default_rng(0)
    i = rng.integers(0, n, hypotheses)
    j = (i + rng.integers(1, n, hypotheses)) % n  # never i itself
    return i, j


def _weighted_ls(d: np.ndarray, g: np.ndarray) -> tuple[float, float] | None:
    """min sum ((s d + t) / g - 1)^2: each point weighted by its relative error. None when ill-conditioned."""
    if d.size < MIN_POINTS:
        return None
    a = np.stack([d / g, 1.0 / g], axis=1)
    ata = a.T @ a
    if np.linalg.cond(ata) > 1e12:
        return None
    s, t = np.linalg.solve(ata, a.T @ np.ones_like(d))
    return float(s), float(t)


def _weighted_ls_abs(d: np.ndarray, g: np.ndarray, w: np.ndarray) -> tuple[float, float] | None:
    """min sum w (s d + t - g)^2 (the oracle's loss, weighted), on centred values. None: fewer than two weighted
    points or no spread among them."""
    if np.count_nonzero(w) < MIN_POINTS:
        return None
    sw = float(w.sum())
    dm, gm = float(w @ d) / sw, float(w @ g) / sw
    dc = d - dm
    var = float(w @ (dc * dc))
    if var <= 1e-12 * max(1.0, dm * dm) * sw:
        return None
    s = float(w @ (dc * (g - gm))) / var
    return s, gm - s * dm


def to_metric(depth: np.ndarray, scale: float, shift: float, max_range_m: float,
              out: np.ndarray | None = None) -> np.ndarray:
    """Metric z-depth (float32 metres) from relative inverse depth: NaN where `depth` is not finite, +Inf where the
    fitted inverse depth says farther than `max_range_m` (or beyond infinity), else 1 / (scale * depth + shift)."""
    inv = np.multiply(depth, np.float32(scale), dtype=np.float32, out=out)
    inv += np.float32(shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        far = inv <= np.float32(1.0 / max_range_m)
        np.reciprocal(inv, out=inv)
    inv[far] = np.inf  # NaN stays NaN: a NaN comparison is False
    return inv


def align_scale_shift(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(scale, shift) minimising sum((scale * pred + shift - target)^2) over `mask`.

    Solved on centred values in float64: the raw output reaches ~1e4, and the textbook normal equations
    (sum p^2 * n - (sum p)^2) lose most of their digits to cancellation in float32. A constant prediction has no
    unique answer; we return scale 0, shift = mean(target), the least-squares fit with the smallest scale.
    """
    p = np.asarray(pred, np.float64)
    y = np.asarray(target, np.float64)
    if mask is not None:
        p, y = p[mask], y[mask]
    if p.size == 0:
        raise ValueError("no valid pixels to align on")
    p_mean, y_mean = p.mean(), y.mean()
    pc = p - p_mean
    var = float(np.dot(pc, pc))
    if var <= 1e-12 * max(1.0, p_mean * p_mean) * p.size:
        return 0.0, float(y_mean)
    scale = float(np.dot(pc, y - y_mean)) / var
    return scale, float(y_mean - scale * p_mean)


def oracle_fit(depth: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """The least-squares oracle: scale and shift fitted in inverse depth on every valid true pixel (all the truth,
    plain least squares as the MiDaS evaluation protocol does); anchored fits are scored against it."""
    ok = np.isfinite(depth) & np.isfinite(truth) & (truth > 0)
    if valid is not None:
        ok &= valid
    return align_scale_shift(depth[ok], 1.0 / truth[ok].astype(np.float64))


def abs_rel(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(mean |pred - truth| / truth over the truth's valid pixels, share of those pixels `pred` covers): pixels
    where pred is NaN or infinite are not covered and not scored."""
    valid = np.isfinite(truth) & (truth > 0)
    covered = valid & np.isfinite(pred)
    if not covered.any():
        return float("nan"), 0.0
    err = np.abs(pred[covered] - truth[covered]) / truth[covered]
    return float(err.mean()), float(covered.sum() / max(valid.sum(), 1))


def truth_at(truth: np.ndarray, width: int, height: int) -> np.ndarray:
    """A true depth map at another resolution, by exact nearest-pixel sampling (no depth mixed across edges)."""
    if truth.shape == (height, width):
        return truth
    return cv2.resize(truth, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def score(metric: np.ndarray, depth: np.ndarray, truth: np.ndarray, max_range_m: float) -> dict:
    """The metric map against the truth, beside the least-squares oracle on the same relative map: AbsRel of
    both, their ratio (1 = as good as knowing every true pixel) and the share of valid true pixels covered."""
    t = truth_at(truth, depth.shape[1], depth.shape[0])
    err, cover = abs_rel(metric, t)
    s, sh = oracle_fit(depth, t)
    oracle, _ = abs_rel(to_metric(depth, s, sh, max_range_m), t)
    return {"abs_rel": round(err, 5), "oracle_abs_rel": round(oracle, 5),
            "ratio": round(err / oracle, 4) if oracle > 0 else None, "coverage": round(cover, 5)}
