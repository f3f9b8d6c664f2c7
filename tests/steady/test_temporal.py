"""Temporal filter: exact EMA when plain, motion-aware follows changes at once, resets on a new shape."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.steady.temporal import TemporalFilter


def _frames(n: int, seed: int = 0, shape=(96, 128)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 10, shape[1], dtype=np.float32)[None, :].repeat(shape[0], 0)
    return [(base + rng.normal(0, 0.2, shape)).astype(np.float32) for _ in range(n)]


def test_plain_ema_matches_the_formula() -> None:
    a, b = _frames(2)
    f = TemporalFilter(0.3, motion_aware=False)
    assert f.update(a) == 0.0  # first frame seeds
    np.testing.assert_array_equal(f.estimate, a)
    assert f.estimate is not a  # copied, not aliased
    f.update(b)
    np.testing.assert_allclose(f.estimate, 0.7 * a + 0.3 * b, rtol=1e-5, atol=1e-5)


def test_alpha_one_means_no_smoothing() -> None:
    frames = _frames(3)
    for motion_aware in (False, True):
        f = TemporalFilter(1.0, motion_aware=motion_aware)
        for fr in frames:
            f.update(fr)
        np.testing.assert_allclose(f.estimate, frames[-1], atol=1e-5)


@pytest.mark.parametrize("motion_aware", [False, True])
def test_static_noise_is_averaged(motion_aware: bool) -> None:
    frames = _frames(40)
    f = TemporalFilter(0.2, motion_aware=motion_aware)
    for fr in frames:
        f.update(fr)
    base = np.linspace(0, 10, 128, dtype=np.float32)[None, :]
    # EMA noise std: sqrt(a / (2 - a)) = 0.33 of a frame's; motion-aware must not give that up on noise.
    assert (f.estimate - base).std() < 0.4 * 0.2
    assert f.noise_ratio == pytest.approx(0.2 / 1.8, rel=0.01)


def test_motion_aware_follows_a_change_at_once() -> None:
    frames = _frames(12)
    for fr in frames[6:]:
        fr[20:60, 30:90] += 5.0  # an object arrives: 25 sigma of noise
    region = np.zeros(frames[0].shape, bool)
    region[20:60, 30:90] = True
    aware, plain = TemporalFilter(0.2, True, 3.0), TemporalFilter(0.2, False)
    for fr in frames[:7]:
        moving = aware.update(fr)
        plain.update(fr)
    assert moving == pytest.approx(region.mean(), abs=0.02)  # motion_fraction = the changed share
    old = frames[5][region].mean() - 0.0
    progress = (aware.estimate[region].mean() - (old)) / 5.0
    assert progress > 0.95  # one frame after the change
    assert (plain.estimate[region].mean() - old) / 5.0 < 0.3  # a plain EMA lags (ghosts)
    # a very high threshold turns motion-awareness off in effect
    lazy = TemporalFilter(0.2, True, threshold=100.0)
    for fr in frames[:7]:
        lazy.update(fr)
    assert (lazy.estimate[region].mean() - old) / 5.0 < 0.3


def test_shape_change_reseeds() -> None:
    f = TemporalFilter(0.2)
    for fr in _frames(3):
        f.update(fr)
    other = _frames(1, shape=(48, 64))[0]
    assert f.update(other) == 0.0
    np.testing.assert_array_equal(f.estimate, other)
    assert f.noise_ratio == 1.0
    f.reset()
    assert f.estimate is None


def test_rejects_bad_alpha() -> None:
    with pytest.raises(ValueError):
        TemporalFilter(0.0)
    with pytest.raises(ValueError):
        TemporalFilter(1.5)
