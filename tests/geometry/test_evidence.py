"""The evidence: leave-one-out against a brute-force refit, the covariance and sigma against a Monte-Carlo of the
fit on synthetic anchors, the unbounded cut, and the jump test."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry.evidence import (
    bound_cut,
    evidence,
    fit_covariance,
    inverse_sigma,
    jump,
    loo_residuals,
    sigma_metres,
)
from streamer.geometry.fit import _weighted_ls_abs, fit_anchors


def test_leave_one_out_matches_a_refit_without_each_point():
    rng = np.random.default_rng(3)
    d = rng.uniform(100, 900, 9)
    g = 1e-3 * d + 0.1 + rng.normal(0, 0.05, 9)
    w = rng.uniform(0.2, 1.0, 9)
    w[4] = 0.0  # a gross outlier: no weight, no leave-one-out
    e = loo_residuals(d, g, w)
    assert np.isnan(e[4])
    for i in range(9):
        if i == 4:
            continue
        keep = np.arange(9) != i
        s, t = _weighted_ls_abs(d[keep], g[keep], w[keep])
        assert e[i] == pytest.approx(g[i] - (s * d[i] + t), rel=1e-9, abs=1e-12)


def test_leave_one_out_needs_three_weighted_points():
    assert np.isnan(loo_residuals(np.array([1.0, 2.0]), np.array([0.5, 0.7]), np.ones(2))).all()


def _monte_carlo(sigma: float, runs: int = 3000):
    """Fits of fit_anchors to 8 anchors with `sigma` (1/m) of noise on their inverse depth."""
    rng = np.random.default_rng(0)
    scale, shift = 2e-3, 0.05
    d = np.array([80.0, 150, 220, 300, 380, 450, 520, 600])
    g_true = scale * d + shift
    fits = []
    for _ in range(runs):
        f = fit_anchors(d, g_true + rng.normal(0, sigma, d.size), tol=0.3)
        if f.ok:
            fits.append((f.scale, f.shift))
    return d, np.array(fits), (scale, shift)


def test_covariance_and_sigma_match_a_monte_carlo_of_the_fit():
    sigma = 0.02
    d, fits, (scale, shift) = _monte_carlo(sigma)
    assert len(fits) > 2900
    cov = fit_covariance(d, np.ones(d.size), sigma)
    emp = np.cov(fits.T)
    assert np.sqrt(cov[0, 0]) == pytest.approx(np.sqrt(emp[0, 0]), rel=0.12)
    assert np.sqrt(cov[1, 1]) == pytest.approx(np.sqrt(emp[1, 1]), rel=0.12)
    # per pixel, inside and outside the anchors' span: the fitted inverse depth's spread is the analytic sigma
    query = np.array([[20.0, 300.0, 800.0]], np.float32)
    pred = fits[:, :1] * query + fits[:, 1:]
    analytic = inverse_sigma(query, cov, 0.0)[0]
    np.testing.assert_allclose(pred.std(axis=0), analytic, rtol=0.12)
    # in metres: the true depth lies within the fitted depth +- sigma about 68 % of the time
    z_true = 1.0 / (scale * query[0] + shift)
    z_fit = 1.0 / pred
    sig = np.stack([sigma_metres(query, s, t, cov, 0.0, 1.0 / (s * query + t))[0] for s, t in fits[:500]])
    inside = np.abs(z_fit[:500] - z_true) <= sig
    assert 0.6 <= inside.mean() <= 0.78


def test_evidence_estimates_the_network_error_from_leave_one_out():
    """Anchors on a map with 0.03 /m of network error: leave-one-out sees about that much (a little more: the fit
    without a point is itself uncertain there)."""
    rng = np.random.default_rng(1)
    est = []
    for _ in range(200):
        depth = rng.uniform(50, 700, (48, 64)).astype(np.float32)
        rows, cols = rng.integers(0, 48, 8), rng.integers(0, 64, 8)
        d = depth[rows, cols].astype(np.float64)
        g = 1e-3 * d + 0.2 + rng.normal(0, 0.03, 8)
        f = fit_anchors(d, g, tol=0.5)
        if f.ok:
            est.append(evidence(depth, d, g, f.weights, f.scale, f.shift, 40.0).sigma_net)
    assert 0.027 <= float(np.median(est)) <= 0.045


def test_bound_cut_is_where_the_interval_reaches_infinity():
    cov = np.array([[1e-8, -2e-6], [-2e-6, 1e-3]])
    scale, shift, net = 1e-3, 0.0, 0.02
    u = bound_cut(scale, shift, cov, net)
    d = (u - shift) / scale
    s = inverse_sigma(np.array([[d]], np.float32), cov, net)[0, 0]
    assert u == pytest.approx(2.0 * s, rel=1e-4)
    assert bound_cut(scale, shift, np.array([[1e-6, 0], [0, 0]]), net) == float("inf")  # scale +-100 %: no bound


def test_sigma_is_infinite_where_unbounded_and_nan_where_not_published():
    depth = np.array([[10.0, 500.0, 900.0]], np.float32)
    cov = np.zeros((2, 2))
    metric = np.array([[np.inf, 2.0, np.nan]], np.float32)
    out = sigma_metres(depth, 1e-3, 0.0, cov, 0.05, metric)
    assert np.isnan(out[0, 0]) and np.isnan(out[0, 2])  # not published: no sigma
    assert out[0, 1] == pytest.approx((1 / 0.45 - 1 / 0.55) / 2, rel=1e-5)  # asymmetric interval, half its width
    allow = sigma_metres(depth, 1e-3, 0.0, cov, 0.05, np.ones_like(depth))
    assert allow[0, 0] == np.inf


def test_jump_flags_a_sudden_rescale_but_not_jitter():
    cov = np.diag([1e-10, 1e-6])
    assert "jumped x1.50" in jump((1e-3, 0.1), (1.5e-3, 0.1), cov)
    assert jump((1e-3, 0.1), (1.03e-3, 0.1), cov) == ""  # within the least change a jump must make
    assert jump((1e-3, 0.1), (1.5e-3, 0.1), np.diag([1e-6, 1.0])) == ""  # the fresh fit is too uncertain to say


def test_expected_is_never_below_the_maps_own_error_at_its_anchors():
    """Six anchors on the map's line, two the map disagrees with (the robust fit gives them no weight): the
    evidence's `miss` is the published map's AbsRel at all eight, brute force, and the expected AbsRel is at least
    that (the analytic one, from the weighted points, does not see the two)."""
    rng = np.random.default_rng(3)
    depth = rng.uniform(50, 700, (48, 64)).astype(np.float32)
    d = np.array([80.0, 150, 220, 300, 380, 450, 520, 600])
    g = 1e-3 * d + 0.2 + rng.normal(0, 0.002, 8)
    g[[2, 5]] *= (1.6, 0.55)  # the map's shape is off at these two pixels
    f = fit_anchors(d, g, tol=0.1)
    assert f.ok and f.weights is not None and np.count_nonzero(f.weights[[2, 5]]) == 0  # both rejected
    ev = evidence(depth, d, g, f.weights, f.scale, f.shift, 40.0)
    pred = f.scale * d + f.shift
    assert (pred > ev.inv_cut).all()
    assert ev.miss == pytest.approx(float(np.mean(np.abs(g - pred) / pred)))
    weighted_only = float(np.mean((np.abs(g - pred) / pred)[f.weights > 0]))
    assert ev.miss > 5 * weighted_only  # the two rejected anchors count
    assert ev.expected == pytest.approx(max(ev.analytic, ev.miss)) and ev.expected > ev.analytic
    assert ev.sigma_factor(ev.expected) == pytest.approx(ev.expected / ev.analytic)
    floor = evidence(depth, d, g, f.weights, f.scale, f.shift, 40.0, loo=False)  # the floor: no anchors to miss
    assert np.isnan(floor.miss) and floor.expected == floor.analytic
