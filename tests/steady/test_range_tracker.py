"""Colorization range: robust percentiles, blind to one outlier frame or hot pixels, smooth but adaptive."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.steady.range_tracker import RangeTracker

from .synthetic import room


def test_first_frame_gives_its_percentiles() -> None:
    truth = room()
    lo, hi = RangeTracker(2, 98, 0.1).update(truth)
    tlo, thi = np.percentile(truth, [2, 98])
    assert lo == pytest.approx(tlo, abs=0.02) and hi == pytest.approx(thi, abs=0.02)


def test_single_outlier_frame_and_hot_pixels_do_not_move_it() -> None:
    truth = room()
    tracker = RangeTracker(2, 98, 0.3)
    for _ in range(5):
        before = tracker.update(truth)
    after = tracker.update(truth * 10 + 50)  # one frame in wildly different units
    assert after == pytest.approx(before, rel=1e-6)
    hot = truth.copy()
    hot[100, 100] = 1e6  # a single hot pixel, on the sampling grid
    hot[::48, ::48] = 1e6  # and a sprinkle of them: 0.7 % of the samples
    hot[104, 104] = np.inf
    for _ in range(10):
        after = tracker.update(hot)
    assert after == pytest.approx(before, rel=0.02)


def test_sustained_change_is_followed_smoothly() -> None:
    truth = room()
    tracker = RangeTracker(2, 98, 0.1)
    lo0, hi0 = tracker.update(truth)
    highs = [tracker.update(truth * 2)[1] for _ in range(60)]
    steps = np.abs(np.diff([hi0] + highs))
    assert steps.max() < 0.15 * (hi0 - lo0)  # never a jump
    assert highs[-1] == pytest.approx(2 * hi0, rel=0.01)  # but it gets there


def test_alpha_one_follows_after_two_frames() -> None:
    truth = room()
    tracker = RangeTracker(2, 98, 1.0)
    tracker.update(truth)
    tracker.update(truth * 3)  # one frame: could be an outlier, ignored
    hi = tracker.update(truth * 3)[1]  # two in a row: real
    assert hi == pytest.approx(3 * np.percentile(truth, 98), rel=0.02)


def test_percentiles_are_honoured() -> None:
    truth = room()
    wide = RangeTracker(0, 100).update(truth)
    narrow = RangeTracker(50, 80).update(truth)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    assert narrow == pytest.approx(tuple(np.percentile(truth, [50, 80])), abs=0.02)
    assert wide == pytest.approx((truth.min(), truth.max()), abs=0.05)  # a subsample: edge rows may be missed


def test_flat_and_empty_maps_and_reset() -> None:
    tracker = RangeTracker()
    lo, hi = tracker.update(np.full((40, 40), 3.0, np.float32))
    assert hi > lo and lo == pytest.approx(3.0)
    assert tracker.update(np.full((40, 40), np.nan, np.float32)) == (lo, hi)  # nothing measurable: kept
    tracker.reset()
    assert tracker.update(np.full((40, 40), 7.0, np.float32))[0] == pytest.approx(7.0, rel=1e-5)
    with pytest.raises(ValueError):
        RangeTracker(60, 40)
    with pytest.raises(ValueError):
        RangeTracker(2, 98, 0.0)
