"""The robust scale/shift fit in inverse depth: outliers, few points, degenerate layouts, the oracle."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry.fit import AnchorFit, abs_rel, fit_anchors, fit_line, oracle_fit, to_metric


def test_fit_recovers_scale_and_shift_despite_outliers() -> None:
    rng = np.random.default_rng(1)
    d = rng.uniform(0.5, 3.0, 8)
    g = 0.4 * d + 0.05  # 1 / z
    g_noisy = g * (1 + rng.normal(0, 0.01, 8))
    g_noisy[[2, 5]] *= 3.0  # two wild anchors
    fit = fit_line(d, g_noisy)
    assert fit.ok and fit.scale == pytest.approx(0.4, rel=0.05) and fit.shift == pytest.approx(0.05, abs=0.03)
    assert fit.inliers is not None and not fit.inliers[2] and not fit.inliers[5] and fit.inliers.sum() == 6
    assert fit.residual < 0.03


def _anchor_scene(seed: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 3.0, 8)
    g = 0.4 * d + 0.05  # 1 / z
    return d, g, g * (1 + rng.normal(0, noise, 8))


def test_anchor_fit_keeps_every_anchor_under_noise_and_drops_gross_outliers() -> None:
    for seed in range(20):
        d, g, noisy = _anchor_scene(seed, 0.03)  # a good map: 3 % noise
        fit = fit_anchors(d, noisy)
        assert fit.ok and fit.inliers is not None and fit.inliers.all()  # no true anchor thrown away
        wild = noisy.copy()
        wild[2] *= 3.0  # a reading 3x too near
        wild[5] /= 3.0  # and one 3x too far: only a small error in inverse depth, but 3x in depth
        robust = fit_anchors(d, wild)
        assert robust.ok and robust.inliers is not None and robust.inliers.sum() == 6
        assert not robust.inliers[2] and not robust.inliers[5]
        assert np.median(np.abs(g / (robust.scale * d + robust.shift) - 1)) < 0.05  # z error against the truth
    exact = fit_anchors(d, np.where(np.arange(8) == 3, g * 4.0, g))  # exact anchors and a wild one: an exact fit
    assert exact.scale == pytest.approx(0.4, rel=1e-9) and exact.shift == pytest.approx(0.05, rel=1e-8)
    assert exact.inliers is not None and exact.inliers.sum() == 7 and exact.residual < 1e-9


def test_anchor_fit_on_a_noisy_map_keeps_its_good_anchors() -> None:
    # 20 % noise (a weak network): rejecting at a few robust sigmas threw good anchors away in half of these
    # (10 of 20 seeds kept all eight); the M-estimator keeps them and only down-weights the worst
    kept = [fit_anchors(d, noisy).inliers.all() for d, _, noisy in (_anchor_scene(s, 0.2) for s in range(20))]
    assert sum(kept) >= 16


def test_anchor_fit_needs_a_majority() -> None:
    d = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    g = 0.4 * d + 0.05
    five = fit_anchors(d, g * np.array([1, 1, 1, 1, 1, 8, 1 / 8, 10]))  # 5 right, 3 gross: exact on the 5
    assert five.ok and five.inliers.tolist() == [True] * 5 + [False] * 3 and five.scale == pytest.approx(0.4)
    # 8 true anchors on a map that disagrees with the truth (an image where the trained proxy's own oracle scale
    # is negative): the best line agrees with only half of them, which would put most of the map at infinity
    d = np.array([9810.2, 791.8, 1146.1, 10865.1, 1510.3, 8478.9, 10570.8, 3911.8])
    z = np.array([1.34, 0.562, 0.711, 0.487, 0.929, 2.87, 0.97, 9.218])
    half = fit_anchors(d, 1 / z)
    assert not half.ok and "only 4 of 8 anchors agree" in half.reason


def test_anchor_fit_with_three_points() -> None:
    d = np.array([1.0, 2.0, 3.0])
    fit = fit_anchors(d, 0.2 * d + 0.1)
    assert fit.ok and fit.scale == pytest.approx(0.2) and fit.shift == pytest.approx(0.1) and fit.inliers.all()
    off = fit_anchors(d, np.array([0.3, 0.5 * 1.08, 0.7]))  # the middle one 8 % off: all three still count
    assert off.ok and off.inliers.all() and off.scale == pytest.approx(0.2, rel=0.02) and off.shift > 0.1
    assert not fit_anchors(d[:1], d[:1]).ok and "degenerate" in fit_anchors(np.full(3, 2.0), d).reason


def test_three_points_fit_and_two_are_exact() -> None:
    d = np.array([1.0, 2.0, 3.0])
    fit = fit_line(d, 0.2 * d + 0.1)
    assert fit.ok and fit.scale == pytest.approx(0.2) and fit.shift == pytest.approx(0.1)
    assert fit_line(d[:2], 0.2 * d[:2] + 0.1).ok


def test_too_few_and_degenerate_points_say_why() -> None:
    one = fit_line(np.array([1.0]), np.array([0.5]))
    assert not one.ok and "1 usable point," in one.reason and "at least 2" in one.reason
    flat = fit_line(np.full(5, 2.0), np.array([0.5, 0.51, 0.49, 0.5, 0.52]))
    assert not flat.ok and "degenerate" in flat.reason
    backwards = fit_line(np.array([1.0, 2.0, 3.0]), np.array([0.9, 0.5, 0.3]))  # nearer where d says farther
    assert not backwards.ok and "positive scale" in backwards.reason


def test_to_metric_conventions() -> None:
    d = np.array([[1.0, 2.0], [np.nan, -10.0]], np.float32)
    z = to_metric(d, 0.5, 0.0, max_range_m=10.0)
    assert z.dtype == np.float32
    assert z[0, 0] == pytest.approx(2.0) and z[0, 1] == pytest.approx(1.0)
    assert np.isnan(z[1, 0]) and z[1, 1] == np.inf
    assert to_metric(np.array([0.1], np.float32), 1.0, 0.0, max_range_m=5.0)[0] == np.inf  # 10 m > 5 m


def test_oracle_and_abs_rel() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 10, (20, 30)).astype(np.float32)
    rel = (3.0 / truth - 0.1).astype(np.float32)  # 1 / z = (rel + 0.1) / 3
    s, t = oracle_fit(rel, truth)
    assert s == pytest.approx(1 / 3, rel=1e-6) and t == pytest.approx(0.1 / 3, rel=1e-5)
    err, cover = abs_rel(to_metric(rel, s, t, 100.0), truth)
    assert err < 1e-5 and cover == 1.0
    pred = truth * 1.1
    pred[0] = np.nan
    err, cover = abs_rel(pred, truth)
    assert err == pytest.approx(0.1, rel=1e-5) and cover == pytest.approx(19 / 20)


def test_anchor_header() -> None:
    h = AnchorFit("points", True, 0.5, 0.1, used=6, inliers=0.75, residual=0.02, age_s=0.05).header()
    assert h["mode"] == "points" and h["used"] == 6 and h["inliers"] == 0.75 and h["residual"] == 0.02
    never = AnchorFit("ground", False, age_s=float("inf"), reason="no floor").header()
    assert never["residual"] is None and never["age_s"] is None  # strict JSON (browsers) has no NaN or Infinity
