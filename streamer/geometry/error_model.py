"""The error model: what a metric map's AbsRel and per-pixel error really are, calibrated on the user's own RGB-D data.

Split-conformal style. On a calibration set (images with true depth, through the same fit as the daemon's), each
image gives its evidence features (`Evidence.features`) and its actual AbsRel. A ridge regression of log AbsRel on
the features predicts the log error; the residuals on the calibration images give the quantiles: the median makes
`expected_abs_rel` unbiased, the `coverage` quantile (the ceil((n + 1) c)-th smallest, as split-conformal
prediction takes it) is the bound `good` is promised by. Pixels: sigma scaled so that, over the calibration
images' published pixels, |metric - true| <= sigma holds for 68.3 % (one standard deviation).

The file (JSON) records what it is valid for: the weights' sha256, the mode (points with N anchors, or ground),
the network input size and the coverage. Used with anything else it is refused, naming the mismatch.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from streamer.core import jsonlimit

FORMAT = "depth-streamer metric error model"
VERSION = 1
FEATURES = ("log_expected", "log_loo", "outside", "far_outside", "unbounded", "log_shape", "unverified", "rejected")
# what each mode's regression reads. points: the expected AbsRel alone (a calibration curve); on held-out rendered
# sets the other features added noise, not ranking: Spearman 0.45 with all of them, 0.60 with this one (three anchor
# draws, calibrated on another seed). ground: all of them (the share off the floor is what separates its maps).
MODE_FEATURES = {"points": ("log_expected",), "ground": FEATURES}
RIDGE = 1.0  # on standardised features: a few dozen images must not fit noise
ONE_SIGMA = 0.6827


class ErrorModelError(ValueError):
    """The file cannot be used: unreadable, not an error model, or made for other weights / mode / size."""


@dataclass(frozen=True)
class ErrorModel:
    weights_sha256: str
    mode: str  # "points" or "ground"
    anchors: int  # points: the anchors per image it was calibrated with (0 for ground)
    net_size: int
    coverage: float  # the share of images whose AbsRel is within `bound` that the model was calibrated for
    images: int  # calibration images
    mean: list[float]  # feature standardisation
    std: list[float]
    coef: list[float]  # intercept, then one per feature
    median_residual: float  # of log AbsRel
    bound_residual: float  # the coverage quantile of the log AbsRel residual
    sigma_scale: float  # multiplies the analytic sigma (after its per-image rescale to the predicted AbsRel)
    features: tuple[str, ...] = FEATURES

    def predict_log(self, features: dict[str, float]) -> float:
        x = (np.array([features.get(k, 0.0) for k in self.features]) - self.mean) / self.std
        return float(self.coef[0] + np.dot(self.coef[1:], x))

    def expected(self, features: dict[str, float]) -> tuple[float, float]:
        """(expected AbsRel, the bound it stays within at `coverage`)."""
        p = self.predict_log(features)
        return math.exp(p + self.median_residual), math.exp(p + self.bound_residual)

    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ErrorModel:
        try:
            data = jsonlimit.load(Path(path), what=f"error model {path}")
        except OSError as exc:
            raise ErrorModelError(f"error model {path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ErrorModelError(str(exc)) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ErrorModelError(f"error model {path}: not a metric error model (make one with `depth-streamer "
                                  "eval DATA --weights W --anchors N --error-model-out FILE`)")
        if data.get("version") != VERSION:
            raise ErrorModelError(f"error model {path}: version {data.get('version')}, this build reads {VERSION}; "
                                  "calibrate it again")
        try:
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k != "features"}
            model = cls(**fields, features=tuple(data.get("features", FEATURES)))
        except (KeyError, TypeError) as exc:
            raise ErrorModelError(f"error model {path}: a field is missing or wrong ({exc})") from None
        if len(model.coef) != len(model.features) + 1 or len(model.mean) != len(model.features):
            raise ErrorModelError(f"error model {path}: coefficients do not match its features")
        return model

    def check(self, *, weights_sha256: str, mode: str, net_size: int, anchors: int | None = None) -> None:
        """ErrorModelError naming the first mismatch with how it is about to be used."""
        if weights_sha256 != self.weights_sha256:
            raise ErrorModelError(f"error model: calibrated for weights sha256 {self.weights_sha256[:16]}, these "
                                  f"are {weights_sha256[:16]}; calibrate it on these weights")
        if mode != self.mode:
            raise ErrorModelError(f"error model: calibrated for {self.mode} mode, [metric] mode is {mode}")
        if net_size != self.net_size:
            raise ErrorModelError(f"error model: calibrated at network size {self.net_size}, [model] net_size is "
                                  f"{net_size}")
        if anchors is not None and self.mode == "points" and anchors != self.anchors:
            raise ErrorModelError(f"error model: calibrated with {self.anchors} anchors per image, not {anchors}")


def fit_error_model(features: list[dict[str, float]], actual: list[float], *, weights_sha256: str, mode: str,
                    anchors: int, net_size: int, coverage: float = 0.8, sigma_scale: float = 1.0,
                    names: tuple[str, ...] | None = None) -> ErrorModel:
    """The model from calibration images: their features and their actual AbsRel, regressed on the features
    `names` (the mode's, `MODE_FEATURES`, by default). `sigma_scale` is found after (it depends on the model's
    predictions; see `streamer.train.metric_records.calibrate`)."""
    names = names if names is not None else MODE_FEATURES.get(mode, FEATURES)
    n = len(actual)
    if n < 8:
        raise ErrorModelError(f"error model: {n} calibration image(s) could be anchored; at least 8 are needed")
    x = np.array([[f.get(k, 0.0) for k in names] for f in features], np.float64)
    y = np.log(np.maximum(np.asarray(actual, np.float64), 1e-4))
    mean, std = x.mean(0), x.std(0)
    std[std < 1e-9] = 1.0
    xs = np.hstack([np.ones((n, 1)), (x - mean) / std])
    reg = RIDGE * np.eye(xs.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    res = np.sort(y - xs @ coef)
    k = min(n - 1, math.ceil((n + 1) * coverage) - 1)
    return ErrorModel(weights_sha256, mode, anchors, net_size, coverage, n, mean.tolist(), std.tolist(),
                      coef.tolist(), float(np.median(res)), float(res[k]), sigma_scale, names)
