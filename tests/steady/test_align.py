"""Alignment: recovers known scale/shift, ignores moving regions, stays unbiased under noise, never crashes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.steady.align import FLAT_REFERENCE, fit_affine, thumbnail, thumbnail_shape

from .synthetic import room


@pytest.mark.parametrize("scale, shift", [(0.002, -0.3), (1.0, 0.0), (731.0, 55.0)])
def test_recovers_known_scale_and_shift(scale: float, shift: float) -> None:
    truth = room()
    rng = np.random.default_rng(1)
    src = (truth + rng.normal(0, 0.01, truth.shape)).astype(np.float32)
    ref = (scale * truth + shift).astype(np.float32)  # ref = scale * src + shift (up to the noise)
    fit = fit_affine(thumbnail(src, thumbnail_shape(src.shape)), thumbnail(ref, thumbnail_shape(ref.shape)),
                     ref_noise=0.0)
    assert fit.ok and fit.reason == ""
    assert fit.scale == pytest.approx(scale, rel=0.01)
    assert fit.shift == pytest.approx(shift, abs=0.01 * scale)
    assert fit.inlier_fraction > 0.9


def test_exact_data_is_an_exact_fit() -> None:
    truth = room()
    fit = fit_affine(truth * 3 + 1, truth)
    assert fit.ok and fit.inlier_fraction == 1.0
    assert (fit.scale, fit.shift) == (pytest.approx(1 / 3), pytest.approx(-1 / 3))


def test_moving_region_does_not_bias_the_fit() -> None:
    truth = room()
    moved = truth.copy()
    moved[20:120, 20:140] = 1.5  # something near walked in front of 24 % of the view
    src, ref = moved, 2.0 * truth + 0.5  # the reference still shows the old scene
    naive_scale = np.polyfit(src.ravel(), ref.ravel(), 1)[0]
    assert abs(naive_scale - 2.0) > 0.2  # plain least squares is pulled far off ...
    fit = fit_affine(src, ref)
    assert fit.ok  # ... the trimmed fit is not
    assert fit.scale == pytest.approx(2.0, rel=0.01) and fit.shift == pytest.approx(0.5, abs=0.01)
    assert fit.inlier_fraction == pytest.approx(1 - 100 * 120 / truth.size, abs=0.03)


def test_noise_ratio_removes_regression_dilution() -> None:
    truth = room()
    rng = np.random.default_rng(2)
    noisy = truth + rng.normal(0, 0.5 * truth.std(), truth.shape)  # very noisy source, clean reference
    ols = fit_affine(noisy, truth)  # ref_noise=inf: plain least squares
    deming = fit_affine(noisy, truth, ref_noise=0.0)
    assert ols.ok and deming.ok
    assert ols.scale < 0.85  # underestimates: var(signal) / (var(signal) + var(noise)) = 0.8
    assert deming.scale == pytest.approx(1.0, rel=0.03)


def _assert_identity(fit, reason_part: str) -> None:
    assert not fit.ok
    assert (fit.scale, fit.shift) == (1.0, 0.0)
    assert reason_part in fit.reason


def test_degenerate_inputs_fall_back_to_identity() -> None:
    truth = room()
    _assert_identity(fit_affine(np.full(truth.shape, 7.0), truth), "flat input")
    _assert_identity(fit_affine(truth, np.full(truth.shape, 7.0)), FLAT_REFERENCE)
    _assert_identity(fit_affine(-truth, truth), "negative scale")
    _assert_identity(fit_affine(np.full(truth.shape, np.nan), truth), "finite")
    _assert_identity(fit_affine(truth[:4, :4], truth[:4, :4]), "finite")  # too few samples
    _assert_identity(fit_affine(truth, truth[:10]), "shape")
    rng = np.random.default_rng(3)
    unrelated = fit_affine(rng.random(truth.shape), truth)  # a different scene
    assert not unrelated.ok and (unrelated.scale, unrelated.shift) == (1.0, 0.0)


def test_non_finite_pixels_are_ignored() -> None:
    truth = room()
    src = truth.copy()
    src[:30] = np.nan
    src[50, 50] = np.inf
    src[60, 60] = -np.inf
    fit = fit_affine(src, 4.0 * truth - 1.0)
    assert fit.ok and fit.scale == pytest.approx(4.0, rel=1e-3) and fit.shift == pytest.approx(-1.0, abs=1e-3)
    assert math.isfinite(fit.scale)


def test_thumbnail_averages_blocks() -> None:
    assert thumbnail_shape((192, 256)) == (48, 64)
    h, w = thumbnail_shape((144, 256))
    assert 2000 < h * w < 4500 and abs(w / h - 256 / 144) < 0.1
    assert thumbnail_shape((10, 20)) == (10, 20)  # never upsampled
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1, (192, 256)).astype(np.float32)
    small = thumbnail(noise, (48, 64))
    assert small.shape == (48, 64)
    assert small.std() == pytest.approx(0.25, rel=0.1)  # 4x4 blocks: noise std / 4
    out = np.empty((48, 64), np.float32)
    assert thumbnail(noise, (48, 64), out) is out
