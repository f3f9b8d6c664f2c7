"""MetricStage on exact synthetic relative depth (an affine map of the demo's true inverse depth): ground, points,
fixed; smoothing; the bounded hold; loss; restart when the steadier re-seeds; the live truth score."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry import CameraOptions
from streamer.geometry.anchors import AnchorSet
from streamer.sources.demo_scene import DemoScene, demo_camera, demo_mount
from streamer.steady.metric import MetricOptions, MetricStage

SHAPE = (120, 160)
S, T = 250.0, -0.02  # relative = (1 / z - T) / S  <=>  1 / z = S * relative + T


@pytest.fixture(scope="module")
def scene():
    image, truth = DemoScene(SHAPE[1], SHAPE[0]).render(5)
    return truth, ((1.0 / truth - T) / S).astype(np.float32)


class Feed:
    def __init__(self, anchors=None):
        self.anchors = anchors

    def latest(self):
        return self.anchors

    def snapshot(self):
        return {"endpoint": "test"}

    def problem(self):
        return ""


def stage(anchors=None, **opts) -> MetricStage:
    return MetricStage(MetricOptions(**opts), CameraOptions(), source_camera=demo_camera(*SHAPE[::-1]),
                       source_mount=demo_mount(), anchors=anchors)


def test_ground_mode_recovers_metric_depth(scene):
    truth, rel = scene
    st = stage(mode="ground")
    r = st.update(rel, "seeded", SHAPE, 100.0, truth)
    assert r.anchor.ok and r.anchor.used > 100 and r.anchor.residual < 1e-3
    err = np.abs(r.metric / truth - 1.0)
    assert np.median(err) < 1e-3 and err.max() < 5e-3  # the renderer casts float32 rays: ~1e-4 noise in truth
    assert st.truth_score["abs_rel"] < 1e-3 and st.truth_score["coverage"] == 1.0
    assert r.camera == demo_camera(*SHAPE[::-1]) and r.mount == demo_mount()
    assert st.snapshot()["anchor"]["ok"] and st.snapshot()["mount"]["height_m"] == 1.4


def test_no_floor_holds_then_loses_and_seed_restarts(scene):
    truth, rel = scene
    st = stage(mode="ground", hold_s=1.0, smoothing=0.5)
    assert st.update(rel, "seeded", SHAPE, 100.0).anchor.ok
    wall = np.full(SHAPE, rel.mean(), np.float32)  # a wall filling the view: one depth everywhere
    held = st.update(wall, "aligned", SHAPE, 100.6)
    assert held.anchor.ok and held.metric is not None and "holding the fit from 0.60 s ago" in held.anchor.reason
    assert held.anchor.age_s == pytest.approx(0.6) and "no floor found" in held.anchor.reason
    lost = st.update(wall, "aligned", SHAPE, 101.2)
    assert not lost.anchor.ok and lost.metric is None and lost.anchor.reason.startswith("anchoring lost")
    assert st.update(rel, "aligned", SHAPE, 101.3).anchor.ok  # back
    # after a re-seed the old fit is in the wrong units: no hold
    gone = st.update(wall, "seeded", SHAPE, 101.4)
    assert not gone.anchor.ok and gone.metric is None


def test_fits_are_smoothed_over_time(scene):
    truth, rel = scene
    st = stage(mode="ground", smoothing=0.25)
    first = st.update(rel, "seeded", SHAPE, 1.0).anchor
    second = st.update(rel * 1.05, "aligned", SHAPE, 1.1).anchor  # a little drift: the fresh fit's scale / 1.05
    assert second.scale == pytest.approx(0.75 * first.scale + 0.25 * first.scale / 1.05, rel=1e-3)
    assert "jumped" not in second.verdict_reason


def test_a_sudden_rescale_is_flagged_not_smoothed_in(scene):
    truth, rel = scene
    st = stage(mode="ground", smoothing=0.25)
    first = st.update(rel, "seeded", SHAPE, 1.0).anchor
    r = st.update(rel * 2.0, "aligned", SHAPE, 1.1)  # units halved in one frame: the fresh fit has half the scale
    assert r.anchor.scale == pytest.approx(first.scale / 2, rel=1e-3)  # taken as it is
    assert r.anchor.verdict == "uncertain" and "the scale jumped x0.50 in one frame" in r.anchor.verdict_reason
    steady = st.update(rel * 2.0, "aligned", SHAPE, 1.2).anchor  # and the next frame at the new scale is no jump
    assert "jumped" not in steady.verdict_reason


def test_fixed_and_off(scene):
    truth, rel = scene
    r = stage(mode="fixed", scale=S, shift=T).update(rel, "seeded", SHAPE, 1.0)
    assert r.anchor.ok and np.nanmax(np.abs(r.metric / truth - 1)) < 1e-4
    off = stage().update(rel, "seeded", SHAPE, 1.0)
    assert off.metric is None and off.anchor is None and off.camera is not None


def test_points_mode_with_outliers_and_stale_anchors(scene):
    truth, rel = scene
    rng = np.random.default_rng(3)
    v, u = rng.integers(0, SHAPE[0], 8), rng.integers(0, SHAPE[1], 8)
    pts = [[float(a), float(b), float(truth[b, a])] for a, b in zip(u, v, strict=True)]
    pts[3][2] *= 4.0  # a wild reading
    feed = Feed(AnchorSet.parse(pts + [[1e6, 1, 1.0]], capture_wall=50.0))
    st = stage(anchors=feed, mode="points", max_age_s=0.5)
    r = st.update(rel, "seeded", SHAPE, 50.1)
    assert r.anchor.ok and r.anchor.used == 7 and r.anchor.inliers == pytest.approx(7 / 8)
    assert "7 of 9 anchors used" in r.anchor.reason and "anchor 8 (u=1e+06, v=1, 1 m): outside" in r.anchor.reason
    assert np.nanmedian(np.abs(r.metric / truth - 1)) < 1e-3 and r.anchor.age_s == pytest.approx(0.1)
    stale = stage(anchors=feed, mode="points", max_age_s=0.5, hold_s=0.0).update(rel, "seeded", SHAPE, 52.0)
    assert not stale.anchor.ok and "2.00 s from the frame (max_age_s 0.5)" in stale.anchor.reason
    none = stage(anchors=Feed(), mode="points").update(rel, "seeded", SHAPE, 1.0)
    assert not none.anchor.ok and "no anchors received" in none.anchor.reason
    few = stage(anchors=Feed(AnchorSet.parse([pts[0]], capture_wall=1.0)), mode="points").update(
        rel, "seeded", SHAPE, 1.0)
    assert not few.anchor.ok and "1 usable point, the fit needs at least 2" in few.anchor.reason


def test_metric_options_validation():
    with pytest.raises(ValueError, match="scale: fixed mode needs a positive scale"):
        MetricOptions(mode="fixed").validate()
    with pytest.raises(ValueError, match="anchors_endpoint"):
        MetricOptions(anchors_endpoint="localhost:5557").validate()


def test_intrinsics_of_another_aspect_give_no_camera(scene, caplog):
    truth, rel = scene
    cam = CameraOptions(fx=100.0, width=640, height=360, height_m=1.0)  # 16:9 intrinsics, 4:3 frames
    st = MetricStage(MetricOptions(mode="ground"), cam)
    r = st.update(rel, "seeded", SHAPE, 1.0)
    assert r.camera is None and not r.anchor.ok and "needs [camera] intrinsics" in r.anchor.reason
    assert "does not have the aspect ratio of the source's 160x120 frames" in caplog.text


def _feed_at(truth, n: int, seed: int, wall: float = 1.0) -> Feed:
    rng = np.random.default_rng(seed)
    v, u = rng.integers(0, SHAPE[0], n), rng.integers(0, SHAPE[1], n)
    return Feed(AnchorSet.parse([[float(a), float(b), float(truth[b, a])] for a, b in zip(u, v, strict=True)],
                                capture_wall=wall))


def test_every_frame_gets_a_verdict_and_sigma_only_when_asked(scene):
    truth, rel = scene
    noisy = (rel * (1 + np.random.default_rng(0).normal(0, 0.01, rel.shape))).astype(np.float32)
    r = stage(anchors=_feed_at(truth, 8, 1), mode="points").update(noisy, "seeded", SHAPE, 1.0)
    assert r.anchor.verdict == "good" and "within max_rel_error 0.25" in r.anchor.verdict_reason
    head = r.anchor.header()
    assert head["verdict"] == "good" and 0 < head["expected_abs_rel"] < 0.25 and head["evidence"]["verified"] > 0
    assert 0 <= head["evidence"]["miss_abs_rel"] <= head["expected_abs_rel"]  # the map's own error at its anchors
    assert r.sigma is not None and not r.sigma.computed  # nothing spent on sigma until someone reads it
    at = r.sigma.at(60, 80)
    assert not r.sigma.computed
    sigma = r.sigma.get()
    assert r.sigma.computed and sigma.shape == rel.shape and sigma.dtype == np.float32
    assert sigma[60, 80] == pytest.approx(at, rel=1e-5)
    published = np.isfinite(r.metric)
    assert np.isfinite(sigma[published]).all() and np.isnan(sigma[~np.isfinite(r.metric) & ~np.isinf(r.metric)]).all()
    # the error is within a sigma or two on most pixels (1 % noise, exact anchors)
    err = np.abs(r.metric - truth)[published]
    assert np.mean(err <= 2 * sigma[published]) > 0.8


def test_ground_off_the_floor_is_unverified_without_an_error_model(scene):
    truth, rel = scene
    r = stage(mode="ground").update(rel, "seeded", SHAPE, 1.0)
    assert r.anchor.ok and r.anchor.verdict == "uncertain"
    assert "off the floor, unverified without an error model" in r.anchor.verdict_reason
    assert r.metric is not None  # uncertain still publishes


def test_refused_publishes_no_metric_map(scene):
    truth, rel = scene
    wrong = rel.copy()
    wrong[:, SHAPE[1] // 2:] = rel[:, SHAPE[1] // 2:] * 0.3 - 0.5 * rel.mean()  # half the map far off (past 1/z=0)
    r = stage(anchors=_feed_at(truth, 8, 2), mode="points", max_rel_error=0.01).update(wrong, "seeded", SHAPE, 1.0)
    assert r.anchor.verdict == "refused" and not r.anchor.ok and r.metric is None and r.sigma is None
    assert r.anchor.reason.startswith("refused: ") and r.anchor.header()["verdict"] == "refused"


def test_extrapolation_mask_or_allow(scene):
    truth, rel = scene
    noisy = (rel * (1 + np.random.default_rng(0).normal(0, 0.08, rel.shape))).astype(np.float32)  # a poor map
    feed = _feed_at(truth, 8, 4)
    masked = stage(anchors=feed, mode="points", max_rel_error=2.0).update(noisy, "seeded", SHAPE, 1.0)
    allowed = stage(anchors=feed, mode="points", max_rel_error=2.0, extrapolation="allow").update(
        noisy, "seeded", SHAPE, 1.0)
    assert masked.metric is not None and allowed.metric is not None, masked.anchor.reason
    assert masked.anchor.evidence["unbounded"] > 0
    assert np.isinf(masked.metric).sum() > np.isinf(allowed.metric).sum()  # unbounded pixels: +inf (REP 118)


def test_an_error_model_for_other_weights_or_mode_is_refused(tmp_path, scene):
    from streamer.errors import ConfigError
    from streamer.geometry.error_model import FEATURES, fit_error_model

    rng = np.random.default_rng(0)
    feats = [{k: float(rng.uniform()) for k in FEATURES} for _ in range(10)]
    model = fit_error_model(feats, list(rng.uniform(0.1, 0.5, 10)), weights_sha256="ab" * 32, mode="points",
                            anchors=8, net_size=256)
    path = tmp_path / "em.json"
    model.save(path)
    opts = {"mode": "points", "error_model": str(path)}
    MetricOptions(**opts).validate()
    st = MetricStage(MetricOptions(**opts), CameraOptions(), network=("ab" * 32, 256))
    assert st.error_model == model
    with pytest.raises(ConfigError, match=r"error_model = '.*em.json': error model: calibrated for weights sha256"):
        MetricStage(MetricOptions(**opts), CameraOptions(), network=("cd" * 32, 256))
    with pytest.raises(ConfigError, match="calibrated at network size 256, .model. net_size is 320"):
        MetricStage(MetricOptions(**opts), CameraOptions(), network=("ab" * 32, 320))
    with pytest.raises(ConfigError, match="calibrated for points mode, .metric. mode is ground"):
        MetricStage(MetricOptions(mode="ground", error_model=str(path)), CameraOptions(), network=("ab" * 32, 256))
    with pytest.raises(ValueError, match="error_model = 'nope.json': no such file"):
        MetricOptions(mode="points", error_model="nope.json").validate()


def test_anchors_that_cannot_be_fitted_never_stop_the_frame(scene, caplog):
    # issue 26 A3: a set naming an image of 10**400 pixels raised OverflowError on every frame (no depth output).
    # The receiver refuses such sizes now; a set that reaches the fit anyway is a reason, not an exception.
    truth, rel = scene
    bad = AnchorSet(np.array([[10.0, 10.0, 2.0], [20.0, 30.0, 4.0]]), 10**400, 10**400, 100.0, "hostile")
    st = stage(Feed(bad), mode="points", max_age_s=5.0)
    for wall in (100.0, 100.1):
        r = st.update(rel, "seeded", SHAPE, wall, truth)
        assert not r.anchor.ok and r.metric is None and "could not be fitted: OverflowError" in r.anchor.reason
    assert sum("could not be fitted" in rec.getMessage() for rec in caplog.records) == 1  # its cause, once
