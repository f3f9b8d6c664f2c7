"""The MiDaS eval protocol on hand-made cases with known answers."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.train.metrics import aggregate, align_scale_shift, anchored_metrics, depth_metrics


def _scene(h: int = 24, w: int = 32) -> np.ndarray:
    """Ground-truth depth in metres: a floor-like ramp from 1 m (bottom) to 8 m (top), plus a box at 2 m."""
    depth = np.repeat(np.linspace(8.0, 1.0, h, dtype=np.float32)[:, None], w, axis=1)
    depth[6:12, 10:20] = 2.0
    return depth


def test_perfect_prediction():
    gt = _scene()
    m = depth_metrics(1.0 / gt, gt)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert m["rmse"] == pytest.approx(0.0, abs=1e-5)
    assert m["delta1"] == m["delta2"] == m["delta3"] == 1.0
    assert m["valid_pixels"] == gt.size


@pytest.mark.parametrize("scale, shift", [(37.0, -0.4), (1e4, 250.0), (0.01, 3.0)])
def test_affine_distortion_of_inverse_depth_is_undone(scale, shift):
    gt = _scene()
    m = depth_metrics((scale / gt + shift).astype(np.float32), gt)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-4)  # float32 predictions: ~7 significant digits
    assert m["delta1"] == 1.0
    assert m["scale"] == pytest.approx(1.0 / scale, rel=1e-4)
    assert m["shift"] == pytest.approx(-shift / scale, abs=1e-4 * max(1.0, abs(shift / scale)))


def test_alignment_is_least_squares():
    rng = np.random.default_rng(0)
    p, y = rng.normal(size=500), rng.normal(size=500)
    s, t = align_scale_shift(p, y)
    s_ref, t_ref = np.polyfit(p, y, 1)
    assert (s, t) == pytest.approx((s_ref, t_ref), rel=1e-9)
    assert align_scale_shift(np.full(10, 3.0), np.arange(10.0)) == (0.0, 4.5)  # constant prediction: the mean


def test_invalid_pixels_are_ignored():
    gt = _scene()
    pred = 1.0 / gt
    bad = gt.copy()
    bad[0, :4] = 0.0
    bad[1, :4] = np.nan
    bad[2, :4] = np.inf
    bad[3, :4] = -1.0
    pred_garbage = pred.copy()
    pred_garbage[:4, :4] = 1e6  # whatever the network says where there is no ground truth must not count
    m = depth_metrics(pred_garbage, bad)
    assert m["valid_pixels"] == gt.size - 16
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-6) and m["delta1"] == 1.0


def test_max_depth_excludes_deeper_pixels():
    gt = _scene()
    pred = 1.0 / gt
    pred[gt > 5.0] = 0.0  # wrong beyond 5 m, but those pixels are out of the evaluation
    m = depth_metrics(pred, gt, max_depth=5.0)
    assert m["valid_pixels"] == int((gt <= 5.0).sum())
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert depth_metrics(pred, gt)["abs_rel"] > 0.05


def _by_hand(p, d, cap):
    s, t = np.polyfit(p, 1.0 / d, 1)
    d_hat = 1.0 / np.maximum(s * p + t, 1.0 / cap)
    return np.mean(np.abs(d_hat - d) / d), d_hat


def test_cap_clips_aligned_inverse_depth():
    # Four valid pixels; the last prediction is far off, so its aligned inverse depth (0.473) falls below 1/2.
    d = np.array([[1.0, 1.0, 2.0, 2.0]], np.float32)
    p = np.array([[1.0, 1.0, 0.5, -5.0]], np.float32)
    abs_rel, d_hat = _by_hand(p.ravel(), d.ravel(), cap=2.0)  # cap = the image's largest valid depth
    assert d_hat[3] == pytest.approx(2.0)  # clipped: predicted depth = cap
    assert depth_metrics(p, d)["abs_rel"] == pytest.approx(abs_rel, rel=1e-6)
    abs_rel10, d_hat10 = _by_hand(p.ravel(), d.ravel(), cap=10.0)  # --max-depth 10: 0.473 > 1/10, not clipped
    assert d_hat10[3] == pytest.approx(1 / 0.4732, rel=1e-3)
    assert depth_metrics(p, d, max_depth=10.0)["abs_rel"] == pytest.approx(abs_rel10, rel=1e-6)
    # Far beyond: the aligned value is negative; the clip keeps the predicted depth finite and positive (= cap).
    m = depth_metrics(np.array([[1.0, 1.0, 0.5, -500.0]], np.float32), d, max_depth=3.0)
    assert np.isfinite(m["rmse"]) and m["abs_rel"] == pytest.approx(_by_hand(
        np.array([1.0, 1.0, 0.5, -500.0]), d.ravel(), 3.0)[0], rel=1e-6)


def test_prediction_is_resized_bilinearly_to_ground_truth():
    gt = _scene(48, 64)
    small = (1.0 / cv2.resize(gt, (32, 24), interpolation=cv2.INTER_AREA)).astype(np.float32)
    m = depth_metrics(small, gt)
    ref = depth_metrics(cv2.resize(small, (64, 48), interpolation=cv2.INTER_LINEAR), gt)
    assert m == ref
    assert 0 < m["abs_rel"] < 0.1


def test_metrics_match_a_direct_reading_of_the_protocol():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.5, 10.0, (30, 40)).astype(np.float32)
    gt[rng.random(gt.shape) < 0.1] = 0.0
    pred = (1.0 / np.maximum(gt, 0.5) * rng.uniform(0.7, 1.4, gt.shape) + 0.05).astype(np.float32)
    valid = gt > 0
    d, p = gt[valid].astype(np.float64), pred[valid].astype(np.float64)
    s, t = np.polyfit(p, 1.0 / d, 1)
    d_hat = 1.0 / np.clip(s * p + t, 1.0 / d.max(), None)
    r = np.maximum(d_hat / d, d / d_hat)
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx(np.mean(np.abs(d_hat - d) / d), rel=1e-9)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((d_hat - d) ** 2)), rel=1e-9)
    for k, thr in (("delta1", 1.25), ("delta2", 1.25 ** 2), ("delta3", 1.25 ** 3)):
        assert m[k] == pytest.approx(np.mean(r < thr), abs=1e-12)
    assert 0 < m["delta1"] < m["delta2"] < m["delta3"] <= 1


def test_no_valid_pixel_gives_none_and_aggregate_averages_images():
    assert depth_metrics(np.ones((4, 4), np.float32), np.zeros((4, 4), np.float32)) is None
    a = {"abs_rel": 0.1, "rmse": 1.0, "delta1": 0.5, "delta2": 0.7, "delta3": 0.9}
    b = {"abs_rel": 0.3, "rmse": 3.0, "delta1": 1.0, "delta2": 1.0, "delta3": 1.0}
    agg = aggregate([a, None, b])
    assert agg["images"] == 2
    assert agg["abs_rel"] == pytest.approx(0.2) and agg["rmse"] == pytest.approx(2.0)
    assert agg["delta1"] == pytest.approx(0.75)


def test_anchored_metrics_on_exact_relative_depth():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 8, (40, 50)).astype(np.float32)
    pred = (3.0 / gt + 0.2).astype(np.float32)  # exactly affine in inverse depth
    pred_noisy = pred.copy()
    oracle = depth_metrics(pred, gt)
    got = anchored_metrics(pred, gt, 8, np.random.default_rng(1))
    assert got["ok"] and got["used"] == 8 and got["abs_rel"] < 1e-5 and oracle["abs_rel"] < 1e-5
    few = anchored_metrics(pred_noisy, gt, 3, np.random.default_rng(1))
    assert few["ok"] and few["anchors"] == 3
    flat = anchored_metrics(np.ones_like(pred), gt, 8, np.random.default_rng(1))
    assert not flat["ok"] and "degenerate" in flat["reason"]
