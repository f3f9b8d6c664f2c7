"""Verdicts on maps whose error is known: an affine error (what the fit removes: good), a wrong shape (walls
scaled unlike the floor: never good when the map misses the promise), in points and in ground mode."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry import CameraModel, Mount
from streamer.geometry.anchors import AnchorSet, fit_points
from streamer.geometry.fit import abs_rel, to_metric
from streamer.geometry.ground import fit_ground
from streamer.geometry.verdict import assess, ground_evidence, points_evidence
from tests.steady.synthetic import room

MAX = 0.25


def _points(depth: np.ndarray, inv_true: np.ndarray, seed: int, n: int = 8):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, depth.shape[0], n), rng.integers(0, depth.shape[1], n)
    anchors = AnchorSet(np.stack([cols, rows, 1.0 / inv_true[rows, cols]], 1).astype(np.float64), 0, 0, 0.0)
    p = fit_points(depth, anchors, depth.shape[1], depth.shape[0])
    if not p.fit.ok:
        return None, float("nan")
    a = assess(points_evidence(depth, p, 40.0), mode="points", max_rel_error=MAX, max_range_m=40.0)
    actual = abs_rel(to_metric(depth, p.fit.scale, p.fit.shift, a.range_m), 1.0 / inv_true)[0]
    return a, actual


def test_points_a_map_with_an_affine_error_is_good_and_says_how_good():
    inv = room()
    rng = np.random.default_rng(0)
    depth = (700.0 * inv * (1 + rng.normal(0, 0.02, inv.shape)) - 40.0).astype(np.float32)  # affine + 2 % noise
    for seed in range(10):
        a, actual = _points(depth, inv, seed)
        assert a is not None and a.verdict == "good", a.reason if a else "no fit"
        assert actual <= MAX
        assert actual / 3 <= a.expected_abs_rel <= actual * 3
        assert "within max_rel_error 0.25" in a.reason


@pytest.mark.parametrize(("below", "factor", "misses"), [(0.2, 0.4, 15), (0.3, 2.5, 2)])
def test_points_a_map_with_the_wrong_shape_is_never_good_when_it_misses(below, factor, misses):
    """The walls (inverse depth below `below`) scaled by `factor` unlike the floor and the objects: maps that miss
    the promise are not good, whichever 8 pixels the anchors happen to be."""
    inv = room()
    depth = (700.0 * np.where(inv < below, factor * inv, inv) - 40.0).astype(np.float32)
    missed = good = 0
    for seed in range(20):
        a, actual = _points(depth, inv, seed)
        if a is None:
            continue
        missed += actual > MAX
        if a.verdict == "good":
            good += 1
            assert actual <= MAX, a.reason
        else:
            assert a.reason and a.verdict in ("uncertain", "refused")
    assert missed >= misses  # the wrong shape does make maps miss the promise: the verdict had something to catch
    assert good >= 1  # and it does not refuse everything


def test_points_a_map_that_misses_its_anchors_expects_that_error_and_widens_sigma():
    """Walls scaled unlike the rest: where the published map misses its own anchors (those the robust fit
    rejected included) by more than the analytic error says, the expected AbsRel is that miss, the reason says so,
    and sigma is widened to match (without an error model too)."""
    inv = room()
    depth = (700.0 * np.where(inv < 0.3, 2.5 * inv, inv) - 40.0).astype(np.float32)
    raised = said = 0
    for seed in range(20):
        a, _ = _points(depth, inv, seed)
        if a is None or not np.isfinite(a.evidence.miss):
            continue
        ev = a.evidence
        assert a.expected_abs_rel >= ev.miss
        if ev.miss > ev.analytic:
            raised += 1
            assert a.expected_abs_rel == pytest.approx(ev.miss)
            if "predicted AbsRel" in a.reason:  # the basis is given (good, or over the promise)
                assert "misses its own anchors" in a.reason, a.reason
                said += 1
            assert a.sigma_scale == pytest.approx(ev.miss / ev.analytic) and a.sigma_scale > 1
    assert raised >= 3 and said >= 1


def _floor_scene(wall_m: float) -> tuple[np.ndarray, CameraModel, Mount]:
    cam = CameraModel.from_hfov(70.0, 128, 96)
    mount = Mount(1.0, pitch_deg=15.0)
    floor = mount.floor_inverse_depth(cam)
    return np.maximum(floor, 1.0 / wall_m).astype(np.float32), cam, mount


def test_ground_without_an_error_model_vouches_only_for_the_floor():
    inv, cam, mount = _floor_scene(wall_m=5.0)
    right = (500.0 * inv + 30.0).astype(np.float32)
    floor = inv > 1 / 5.0 + 1e-6
    wrong = np.where(floor, right, 500.0 * (3.0 * inv) + 30.0).astype(np.float32)  # the wall 3x nearer
    for depth in (right, wrong):
        gf = fit_ground(depth, cam, mount, max_range_m=40.0)
        assert gf.fit.ok
        ev = ground_evidence(depth, gf, cam, mount, 40.0, 0.05)
        assert abs(ev.verified - floor.mean()) < 0.05
        a = assess(ev, mode="ground", max_rel_error=MAX, max_range_m=40.0)
        assert a.verdict == "uncertain" and "off the floor, unverified without an error model" in a.reason
    actual = abs_rel(to_metric(wrong, gf.fit.scale, gf.fit.shift, a.range_m), 1.0 / inv)[0]
    assert actual > MAX  # and indeed the wrong map misses the promise


def test_ground_all_floor_in_view_is_good():
    inv, cam, mount = _floor_scene(wall_m=1000.0)
    cam_down = Mount(1.0, pitch_deg=55.0)  # looking down: floor everywhere, within a few metres
    inv = cam_down.floor_inverse_depth(cam).astype(np.float32)
    depth = (500.0 * inv + 30.0).astype(np.float32)
    gf = fit_ground(depth, cam, cam_down, max_range_m=40.0)
    a = assess(ground_evidence(depth, gf, cam, cam_down, 40.0, 0.05), mode="ground", max_rel_error=MAX,
               max_range_m=40.0)
    assert a.verdict == "good", a.reason
    assert a.expected_abs_rel < 0.05


def test_a_jump_and_too_few_anchors_are_never_good():
    inv = room()
    depth = (700.0 * inv - 40.0).astype(np.float32)
    a, _ = _points(depth, inv, 0)
    assert a is not None
    again = assess(a.evidence, mode="points", max_rel_error=MAX, max_range_m=40.0, jump="the scale jumped x1.6")
    assert again.verdict == "uncertain" and "jumped" in again.reason
    few, _ = _points(depth, inv, 1, n=4)
    assert few is not None and few.verdict == "uncertain" and "too few to vouch" in few.reason


def test_refused_when_the_map_cannot_be_bounded():
    inv = room()
    depth = (700.0 * inv - 40.0).astype(np.float32)
    a, _ = _points(depth, inv, 0)
    assert a is not None
    lost = assess(a.evidence.__class__(**{**{f: getattr(a.evidence, f) for f in a.evidence.__slots__},
                                          "unbounded": 0.9}), mode="points", max_rel_error=MAX, max_range_m=40.0)
    assert lost.verdict == "refused" and "90% of the map is unbounded" in lost.reason
    tight = assess(a.evidence, mode="points", max_rel_error=a.expected_abs_rel / 3, max_range_m=40.0)
    assert tight.verdict == "refused" and "over 2x max_rel_error" in tight.reason
