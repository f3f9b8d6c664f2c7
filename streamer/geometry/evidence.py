"""What a metric fit can say about its own error, without the truth: the evidence behind the verdict and sigma.

A fit of 1 / z = scale * d + shift rests on a few points (anchors, or floor pixels). How far the rest of the map is
off depends on two things the fit's residual does not show:
- the network's own error in inverse depth at a pixel no anchor sits on. With random anchors, each one predicted by
  the fit without it (leave-one-out) is an honest sample of that error; measured on rendered rooms it is about the
  same in 1/m across near and far pixels (not a relative error), so a far pixel, whose inverse depth is small, gets
  a large relative error: sigma_net is an absolute inverse-depth error;
- the fit's own uncertainty (its covariance), which grows away from the inverse-depth span the points support.
Together they give each pixel an inverse-depth standard deviation; inverting the interval gives metres. A pixel
whose interval at `BOUND_SIGMAS` reaches 1/z <= 0 has no upper bound on its depth: it is unbounded (masked in the
published map unless `[metric] extrapolation = "allow"`). The expected AbsRel of the published map is the mean over
its bounded pixels of E|e| / (1/z) = sqrt(2 / pi) sigma / (1/z) (AbsRel of a pixel is exactly |e| / fitted 1/z),
and with anchors never less than the map's own error at them: the mean of |g - fitted 1/z| / fitted 1/z over every
bounded anchor, those the robust fit gave no weight included (an anchor the map disagrees with is a sample of the
map's error as much as one it agrees with; the analytic sigma, from the weighted points, does not see it).
Map-wide statistics use a strided view of the map (`STRIDE`): they are shares and means, a 16th of the pixels
tells them as well and keeps the verdict far under a millisecond.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOUND_SIGMAS = 2.0  # a pixel is bounded while its fitted inverse depth is this many sigmas above 1/z = 0
STRIDE = 4  # map statistics on every 4th pixel in each direction
NET_FLOOR = 0.02  # the least network error assumed, as a share of the points' median inverse depth (8 anchors that
# agree perfectly happen, and say little about the pixels between them)
MIN_LOO = 4  # fewer weighted points than this: leave-one-out cannot estimate the network's error
GAUSS_ABS = math.sqrt(2.0 / math.pi)  # E|e| / sigma for a normal error


@dataclass(frozen=True, slots=True)
class Evidence:
    """The evidence about one frame's fit; `features()` is what the verdict and an error model read."""

    used: int  # points with a weight in the fit
    loo: np.ndarray  # each used point's leave-one-out relative error |e| / predicted 1/z (anchors; empty for ground)
    sigma_net: float  # the network's error in inverse depth, 1/m, one sigma
    cov: np.ndarray  # 2 x 2 covariance of (scale, shift)
    support: tuple[float, float]  # the inverse-depth span (1/m) the fit rests on
    outside: float  # share of the map's valid pixels fitted outside that span (extrapolated)
    far_outside: float  # share fitted over twice as far as the farthest point the fit rests on (nearing 1/z = 0)
    unbounded: float  # share of the map's valid pixels whose interval reaches 1/z <= 0
    shape: float  # median |z_scale_only / z - 1| over the map: how much a fit without shift disagrees
    expected: float  # expected AbsRel of the published (bounded) pixels: `analytic`, at least `miss` (anchors)
    inv_cut: float  # 1/m: fitted inverse depths at or below this are unbounded
    verified: float  # ground: share of the map on the fitted floor (the rest is unverified); points: 1 - outside
    rejected: float  # share of the candidate points the fit gave no weight (anchors that disagree; not floor)
    miss: float = math.nan  # anchors: mean relative error of the published map at its bounded anchors (all of them)
    analytic: float = math.nan  # the analytic expected AbsRel alone (what the analytic sigma implies)

    def features(self) -> dict[str, float]:
        """Scalars an error model is fitted on (logs of errors: they spread over decades)."""
        loo = self.loo[np.isfinite(self.loo)]
        return {"log_expected": math.log(max(self.expected, 1e-4)),
                "log_loo": math.log(max(float(np.sqrt(np.mean(loo ** 2))), 1e-4)) if loo.size else math.log(1e-4),
                "outside": self.outside, "far_outside": self.far_outside, "unbounded": self.unbounded,
                "log_shape": math.log(max(self.shape, 1e-4)), "unverified": 1.0 - self.verified,
                "rejected": self.rejected}

    def sigma_factor(self, expected: float) -> float:
        """What multiplies the analytic sigma for it to imply `expected` (its expected AbsRel is linear in it)."""
        return expected / self.analytic if 0 < self.analytic < math.inf and math.isfinite(expected) else 1.0

    def header(self) -> dict:
        """The evidence part of the wire `anchor` block (small and JSON-safe)."""
        loo = self.loo[np.isfinite(self.loo)]
        return {"loo_abs_rel": round(float(np.mean(loo)), 4) if loo.size else None,
                "miss_abs_rel": round(self.miss, 4) if math.isfinite(self.miss) else None,
                "sigma_net": round(self.sigma_net, 6), "outside": round(self.outside, 4),
                "unbounded": round(self.unbounded, 4), "verified": round(self.verified, 4)}


def loo_residuals(d: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g_i minus the prediction at d_i of the weighted least-squares line fitted without point i (the closed form:
    r_i / (1 - h_ii), h the weighted hat matrix); NaN where the point has no weight or the line without it is
    undetermined (two weighted points)."""
    x = np.stack([d, np.ones_like(d)], 1)
    a = x.T @ (w[:, None] * x)
    out = np.full(d.shape, np.nan)
    if np.count_nonzero(w) < 3 or abs(np.linalg.det(a)) <= 1e-15 * max(np.abs(a).max(), 1e-300) ** 2:
        return out
    beta = np.linalg.solve(a, x.T @ (w * g))
    h = w * np.einsum("ij,jk,ik->i", x, np.linalg.inv(a), x)
    ok = (w > 0) & (h < 1.0 - 1e-9)
    out[ok] = (g[ok] - x[ok] @ beta) / (1.0 - h[ok])
    return out


def fit_covariance(d: np.ndarray, w: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Covariance of (scale, shift) of the weighted least-squares line when each g_i has error sigma_i (the
    sandwich A^-1 X' W S W X A^-1: the fit's weights need not be the inverse variances)."""
    x = np.stack([d, np.ones_like(d)], 1)
    a_inv = np.linalg.pinv(x.T @ (w[:, None] * x))
    s2 = np.broadcast_to(np.asarray(sigma, np.float64) ** 2, d.shape)
    meat = x.T @ ((w * w * s2)[:, None] * x)
    return a_inv @ meat @ a_inv


def inverse_sigma(depth: np.ndarray, cov: np.ndarray, sigma_net: float) -> np.ndarray:
    """One sigma of the fitted inverse depth at every pixel of `depth` (1/m, float32): the fit's and the network's."""
    d = depth.astype(np.float32, copy=False)
    var = (np.float32(cov[0, 0]) * d + np.float32(2.0 * cov[0, 1])) * d
    var += np.float32(cov[1, 1] + sigma_net * sigma_net)
    return np.sqrt(np.maximum(var, 0.0, out=var), out=var)


def sigma_metres(depth: np.ndarray, scale: float, shift: float, cov: np.ndarray, sigma_net: float,
                 published: np.ndarray) -> np.ndarray:
    """One sigma in metres (float32): half the width of the depth interval [1 / (inv + s), 1 / (inv - s)] from the
    inverse-depth interval inv +- s, which is s / (inv^2 - s^2); +Inf where inv - s <= 0 (no upper bound), NaN
    where `published` (the metric map) is not finite."""
    s = inverse_sigma(depth, cov, sigma_net)
    inv = np.multiply(depth, np.float32(scale), dtype=np.float32)
    inv += np.float32(shift)
    unbounded = inv <= s
    inv *= inv
    s2 = np.multiply(s, s)
    inv -= s2
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(s, inv, out=s)
    s[unbounded] = np.inf
    s[~np.isfinite(published)] = np.nan
    return s


def bound_cut(scale: float, shift: float, cov: np.ndarray, sigma_net: float, k: float = BOUND_SIGMAS) -> float:
    """The fitted inverse depth u at or below which a pixel is unbounded: u = k sigma(u). sigma^2 is quadratic in
    d = (u - shift) / scale, so this is the larger root of a quadratic in u; +Inf when the scale itself is too
    uncertain (every pixel unbounded)."""
    a, b, c = cov[0, 0] / scale ** 2, cov[0, 1] / scale, cov[1, 1] + sigma_net ** 2
    # u^2 - k^2 (a (u - t)^2 + 2 b (u - t) + c) = 0
    qa = 1.0 - k * k * a
    qb = -k * k * (-2.0 * a * shift + 2.0 * b)
    qc = -k * k * (a * shift * shift - 2.0 * b * shift + c)
    if qa <= 0:
        return math.inf
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0:
        return 0.0
    return max((-qb + math.sqrt(disc)) / (2.0 * qa), 0.0)


def evidence(depth: np.ndarray, d: np.ndarray, g: np.ndarray, w: np.ndarray, scale: float, shift: float,
             max_range_m: float, *, loo: bool = True, floor_g: np.ndarray | None = None,
             floor_tol: float = 0.05) -> Evidence:
    """The evidence of the line (scale, shift) fitted with weights `w` to points (d, g) on the map `depth`.
    `loo`: the network's error from leave-one-out (anchors); else from the weighted residuals (the floor, whose many
    pixels make the two the same). `floor_g`: the floor's inverse depth on the strided map grid (ground mode): pixels
    that agree with it within `floor_tol` are verified, the rest are not."""
    d, g, w = (np.asarray(v, np.float64).ravel() for v in (d, g, w))
    on = w > 0
    used = int(on.sum())
    pred = scale * d + shift
    if loo:
        e = loo_residuals(d, g, w)
        rel = np.minimum(np.abs(e) / np.maximum(g - e, 1e-12), 10.0)  # |e| / the LOO fit's prediction (at or
        # past 1/z = 0 it has no relative error to speak of: capped at 1000 %)
        rel[~np.isfinite(e)] = np.nan
        fin = on & np.isfinite(e)  # weighted as the fit weighs them: a down-weighted outlier says little
        sig = float(np.sqrt(w[fin] @ e[fin] ** 2 / w[fin].sum())) if fin.sum() >= MIN_LOO - 1 else math.nan
        loo_rel = rel[on]
    else:  # the floor: many points, a residual is as honest as leave-one-out; in 1/m, unweighted
        r = (g - pred)[on]
        sig = float(np.sqrt(float(r @ r) / max(used - 2, 1)))
        loo_rel = np.empty(0)
    g_med = float(np.median(g[on])) if used else 1.0
    if not math.isfinite(sig):  # too few points to estimate it: assume the worst any map of them could be
        sig = float(np.ptp(g[on])) if used > 1 else g_med
    sig = max(sig, NET_FLOOR * g_med)
    cov = fit_covariance(d, w, sig)
    grid = depth[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE].astype(np.float64)
    ok = np.isfinite(grid)
    gd = grid[ok]
    inv = scale * gd + shift
    lo, hi = (float(pred[on].min()), float(pred[on].max())) if used else (0.0, 0.0)
    n = max(gd.size, 1)
    outside = float(np.count_nonzero((inv < lo) | (inv > hi))) / n
    far_outside = float(np.count_nonzero(inv < 0.5 * lo)) / n
    cut = max(bound_cut(scale, shift, cov, sig), 1.0 / max_range_m)
    bounded = inv > cut
    s_inv = np.sqrt(np.maximum(cov[0, 0] * gd * gd + 2.0 * cov[0, 1] * gd + cov[1, 1], 0.0) + sig * sig)
    analytic = float(np.mean(GAUSS_ABS * s_inv[bounded] / inv[bounded])) if bounded.any() else math.inf
    miss = anchor_miss(d, g, pred, cut) if loo else math.nan
    expected = max(analytic, miss) if math.isfinite(miss) else analytic
    s0 = float(w @ (d * g)) / max(float(w @ (d * d)), 1e-300)  # the line through the origin (no shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = float(np.median(np.abs(inv[bounded] / (s0 * gd[bounded]) - 1.0))) if bounded.any() else math.inf
    if floor_g is not None:
        fg = floor_g[ok]
        verified = float(np.count_nonzero((fg > 0) & (np.abs(inv - fg) <= floor_tol * fg))) / n
    else:
        verified = 1.0 - outside
    return Evidence(used, loo_rel, sig, cov, (lo, hi), outside, far_outside, 1.0 - float(bounded.mean()) if gd.size
                    else 1.0, shape, expected, cut, verified, 1.0 - used / max(d.size, 1), miss,
                    analytic)


def anchor_miss(d: np.ndarray, g: np.ndarray, pred: np.ndarray, cut: float) -> float:
    """Mean |g - pred| / pred over the finite points whose fitted inverse depth `pred` is above `cut` (bounded,
    hence published): the published map's AbsRel at those pixels, each capped at 1000 %; NaN when none is."""
    ok = np.isfinite(d) & np.isfinite(g) & (pred > cut)
    if not ok.any():
        return math.nan
    return float(np.mean(np.minimum(np.abs(g[ok] - pred[ok]) / pred[ok], 10.0)))


def jump(previous: tuple[float, float], fresh: tuple[float, float], cov: np.ndarray, *, threshold: float = 13.8,
         least: float = 0.1) -> str:
    """Why the fresh (scale, shift) is a sudden re-scale from the running one, or "": the Mahalanobis distance in
    (log scale, shift) under the fresh fit's covariance past `threshold` (chi-square, 2 dof, 99.9 %) and the scale
    changed by more than `least` (frame-to-frame network jitter is not a jump)."""
    (s0, t0), (s1, t1) = previous, fresh
    if s0 <= 0 or s1 <= 0:
        return ""
    dl, dt = math.log(s1 / s0), t1 - t0
    j = np.array([[1.0 / s1, 0.0], [0.0, 1.0]])
    c = j @ cov @ j.T + np.diag([1e-12, 1e-12])
    m2 = float(np.array([dl, dt]) @ np.linalg.solve(c, np.array([dl, dt])))
    if m2 > threshold and abs(dl) > math.log1p(least):
        return f"the scale jumped x{s1 / s0:.2f} in one frame (a re-scale, not smoothed in)"
    return ""
