"""Bilateral smoothing: removes noise but keeps depth edges, at any value scale; every knob has an effect."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.steady.bilateral import smooth_edges

KW = dict(d=5, sigma_color=0.05, sigma_space=2.0)


def _step(scale: float = 1.0, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    clean = np.zeros((64, 96), np.float32)
    clean[:, 48:] = 1.0  # a depth edge down the middle
    rng = np.random.default_rng(seed)
    noisy = clean + rng.normal(0, 0.02, clean.shape).astype(np.float32)
    return (scale * noisy + shift).astype(np.float32), (scale * clean + shift).astype(np.float32)


@pytest.mark.parametrize("scale, shift", [(1.0, 0.0), (2500.0, 300.0), (1e-3, -5e-3)])
def test_smooths_noise_and_keeps_edges_at_any_scale(scale: float, shift: float) -> None:
    noisy, clean = _step(scale, shift)
    out = smooth_edges(noisy, (shift, shift + scale), **KW)
    flat = (slice(None), slice(4, 44))
    assert (out - clean)[flat].std() < 0.6 * (noisy - clean)[flat].std()  # noise down
    jump = (out[:, 48] - out[:, 47]).mean() / scale
    assert jump > 0.9  # edge stays a one-pixel step


def test_off_switch_and_flat_range_copy() -> None:
    noisy, _ = _step()
    for out in (smooth_edges(noisy, (0.0, 1.0), enabled=False, **KW), smooth_edges(noisy, (1.0, 1.0), **KW)):
        np.testing.assert_array_equal(out, noisy)
        assert out is not noisy


def test_writes_into_out() -> None:
    noisy, _ = _step()
    out = np.empty_like(noisy)
    assert smooth_edges(noisy, (0.0, 1.0), out=out, **KW) is out


@pytest.mark.parametrize("change", [dict(d=9), dict(sigma_color=0.5), dict(sigma_space=6.0)])
def test_each_parameter_matters(change: dict) -> None:
    noisy, _ = _step()
    base = smooth_edges(noisy, (0.0, 1.0), **KW)
    other = smooth_edges(noisy, (0.0, 1.0), **{**KW, **change})
    assert np.abs(other - base).mean() > 1e-4


def test_one_absurd_pixel_does_not_disable_edge_preservation() -> None:
    noisy, clean = _step()
    noisy[10, 10] = 1e9
    out = smooth_edges(noisy, (0.0, 1.0), **KW)
    assert (out[:, 48] - out[:, 47]).mean() > 0.9
    assert np.isfinite(out).all()
