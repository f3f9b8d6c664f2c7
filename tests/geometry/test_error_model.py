"""The error model: its regression and conformal bound on data with a known relation, the file's round trip, and
each refusal (other weights, mode, network size, anchors; not a model)."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from streamer.geometry.error_model import FEATURES, MODE_FEATURES, ErrorModel, ErrorModelError, fit_error_model

SHA = "ab" * 32


def _draw(rng: np.random.Generator, n: int):
    feats, actual = [], []
    for _ in range(n):
        f = {k: float(rng.uniform(0, 1)) for k in FEATURES}
        f["log_expected"] = float(rng.uniform(-3.0, -0.5))
        feats.append(f)
        actual.append(math.exp(0.8 * f["log_expected"] + 0.5 * f["outside"] + rng.normal(0, 0.2)))
    return feats, actual


def _model(coverage: float = 0.9) -> ErrorModel:
    feats, actual = _draw(np.random.default_rng(0), 200)
    return fit_error_model(feats, actual, weights_sha256=SHA, mode="points", anchors=8, net_size=256,
                           coverage=coverage, names=FEATURES)


def test_each_mode_reads_its_own_features():
    feats, actual = _draw(np.random.default_rng(0), 50)
    for mode in ("points", "ground"):
        m = fit_error_model(feats, actual, weights_sha256=SHA, mode=mode, anchors=8, net_size=256)
        assert m.features == MODE_FEATURES[mode] and len(m.coef) == len(MODE_FEATURES[mode]) + 1
    points = fit_error_model(feats, actual, weights_sha256=SHA, mode="points", anchors=8, net_size=256)
    f = {k: 0.3 for k in FEATURES}
    assert points.expected(f) == points.expected({**f, "outside": 0.9})  # points reads log_expected alone
    assert points.expected(f) != points.expected({**f, "log_expected": -1.0})


def test_it_learns_the_relation_and_its_bound_covers_what_it_promises():
    model = _model()
    feats, actual = _draw(np.random.default_rng(1), 2000)
    pred = np.array([model.expected(f) for f in feats])
    ratio = np.array(actual) / pred[:, 0]
    assert 0.9 <= float(np.median(ratio)) <= 1.1
    assert 0.86 <= float(np.mean(np.array(actual) <= pred[:, 1])) <= 0.95  # 90 % coverage, from 200 images


def test_round_trip(tmp_path):
    model = _model()
    path = tmp_path / "model.json"
    model.save(path)
    back = ErrorModel.load(path)
    assert back == model
    f = {k: 0.3 for k in FEATURES}
    assert back.expected(f) == model.expected(f)
    back.check(weights_sha256=SHA, mode="points", net_size=256, anchors=8)  # what it was made for: accepted


@pytest.mark.parametrize(("use", "says"), [
    ({"weights_sha256": "cd" * 32}, "calibrated for weights sha256 abababab"),
    ({"mode": "ground"}, "calibrated for points mode, [metric] mode is ground"),
    ({"net_size": 384}, "calibrated at network size 256, [model] net_size is 384"),
    ({"anchors": 3}, "calibrated with 8 anchors per image, not 3"),
])
def test_a_mismatch_is_refused_naming_it(use, says):
    args = {"weights_sha256": SHA, "mode": "points", "net_size": 256, "anchors": 8, **use}
    with pytest.raises(ErrorModelError, match=re.escape(says)):
        _model().check(**args)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ErrorModelError, match="not valid JSON"):
        ErrorModel.load(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ErrorModelError, match="not a metric error model"):
        ErrorModel.load(bad)
    good = tmp_path / "m.json"
    _model().save(good)
    data = json.loads(good.read_text())
    del data["coef"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ErrorModelError, match="a field is missing"):
        ErrorModel.load(bad)
    with pytest.raises(ErrorModelError, match="cannot read it"):
        ErrorModel.load(tmp_path / "missing.json")


def test_too_few_images_to_calibrate():
    feats, actual = _draw(np.random.default_rng(0), 5)
    with pytest.raises(ErrorModelError, match="at least 8 are needed"):
        fit_error_model(feats, actual, weights_sha256=SHA, mode="points", anchors=8, net_size=256)
