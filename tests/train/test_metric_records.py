"""Scoring the verdict against the truth: AUSE, Spearman, the summary's split; and a rendered image's camera file
puts the floor where the true depth has it."""
from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.geometry import CameraOptions
from streamer.train.camera_file import image_camera
from streamer.train.dataset import RGBDDataset
from streamer.train.metric_records import MetricRecord, ause, ranking_ceiling, spearman, summarize
from streamer.train.synth import write_demo_dataset


def test_ause_is_zero_for_a_sigma_that_ranks_as_the_error_and_positive_otherwise():
    rng = np.random.default_rng(0)
    err = rng.exponential(0.2, 5000)
    assert ause(err, 3.0 * err) == pytest.approx(0.0, abs=1e-12)
    assert ause(err, rng.random(5000)) > 0.3
    assert ause(err, -err) > ause(err, rng.random(5000))  # ranked backwards: worse than by chance


def test_spearman():
    a = np.arange(10.0)
    assert spearman(a, a ** 3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


def _rec(verdict: str, actual: float, expected: float, ok: bool = True) -> MetricRecord:
    return MetricRecord("x", ok, verdict, "why", oracle=actual / 2, expected=expected, actual=actual, coverage=0.9,
                        within1=0.5, within2=0.9, ause=0.1, published=100)


def test_summary_splits_by_verdict():
    recs = [_rec("good", 0.1, 0.12), _rec("good", 0.5, 0.2), _rec("uncertain", 0.3, 0.3),
            _rec("refused", 2.0, 1.5), _rec("refused", math.nan, math.nan, ok=False)]
    s = summarize(recs, 0.4)
    assert s["verdicts"] == {"good": 2, "uncertain": 1, "refused": 2} and s["share_good"] == pytest.approx(0.4)
    assert s["good_within"] == pytest.approx(0.5) and s["good_max"] == 0.5
    assert s["good_abs_rel"] == pytest.approx(0.3) and s["rest_abs_rel"] == pytest.approx(1.15)
    # refused maps are not published: expected vs actual and sigma over the three published ones only
    assert s["median_actual_over_expected"] == pytest.approx(1.0) and s["within_1_sigma"] == pytest.approx(0.5)


def _fresh(actual: float, draws: np.ndarray, verdict: str = "good") -> MetricRecord:
    r = _rec(verdict, actual, actual)
    r.fresh = draws
    return r


def test_ranking_ceiling_is_how_n_fresh_pixels_of_each_map_rank_the_maps():
    rng = np.random.default_rng(0)
    levels = np.linspace(0.05, 1.0, 30)
    exact = [_fresh(a, np.full(20, a)) for a in levels]  # n pixels that always tell the map's AbsRel
    assert ranking_ceiling(exact) == pytest.approx(1.0)
    noisy = [_fresh(a, a * rng.lognormal(0, 1.0, 20)) for a in levels]  # a heavy-tailed sample of it
    ceiling = ranking_ceiling(noisy)
    assert ceiling is not None and 0.2 < ceiling < 0.95
    refused = [_fresh(a, np.full(20, 1.0 - a), verdict="refused") for a in levels]  # nothing published: not counted
    assert ranking_ceiling(noisy + refused) == pytest.approx(ceiling)
    assert ranking_ceiling(exact[:2]) is None and ranking_ceiling([_rec("good", a, a) for a in levels]) is None
    assert summarize(noisy, 0.4)["ranking_ceiling"] == pytest.approx(ceiling)


def test_points_record_draws_fresh_pixels_of_the_published_map():
    """The record's fresh draws are means of n published pixels' true relative error: their mean over many draws
    is the map's AbsRel."""
    from streamer.train.metric_records import FRESH_DRAWS, Judge, points_record

    rng = np.random.default_rng(4)
    inv = rng.uniform(0.1, 1.0, (60, 80))
    raw = (700.0 * inv * (1 + rng.normal(0, 0.05, inv.shape))).astype(np.float32)
    rec = points_record("x", raw, (1.0 / inv).astype(np.float32), 8, np.random.default_rng(1),
                        Judge(max_rel_error=5.0, extrapolation="allow"))
    assert rec is not None and rec.verdict != "refused" and rec.fresh is not None and rec.fresh.size == FRESH_DRAWS
    assert float(np.mean(rec.fresh)) == pytest.approx(rec.actual, rel=0.35) and np.ptp(rec.fresh) > 0


def test_dataset_demo_writes_each_images_camera_and_mount(tmp_path):
    write_demo_dataset(tmp_path, 3, seed=4, width=160, height=120)
    data = RGBDDataset(tmp_path)
    floors = []
    for i in range(3):
        sample = data.load(i)
        cam, mount = image_camera(tmp_path, sample.name, 160, 120, CameraOptions())
        floor = np.abs(mount.floor_inverse_depth(cam) * sample.depth - 1.0) < 0.01  # mm-rounded depth
        floors.append(floor.mean())
    assert max(floors) > 0.1  # the floor the camera file describes is where the true depth has it
