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
    second = st.update(rel * 2.0, "aligned", SHAPE, 1.1).anchor  # units halved: fresh fit has half the scale
    assert second.scale == pytest.approx(0.75 * first.scale + 0.25 * first.scale / 2, rel=1e-3)


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
