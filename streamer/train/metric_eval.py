"""`eval --anchors N` / `eval --ground`: what the metric verdict and sigma are worth on the user's own RGB-D data,
and `--error-model-out FILE`: the error model calibrated from it.

Every image goes through the daemon's fit and verdict (`metric_records`); the summary says how the verdicts split
the images, the AbsRel of `good` against the rest and the oracle's, sigma's coverage at 1 and 2 sigma and the AUSE.
Calibrating an error model judges analytically (no model) and keeps a sample of each image's pixels.
"""
from __future__ import annotations

import numpy as np

from streamer.geometry import CameraOptions
from streamer.geometry.error_model import ErrorModel
from streamer.train.camera_file import image_camera
from streamer.train.dataset import RGBDDataset, Sample
from streamer.train.metric_records import (
    Judge,
    MetricRecord,
    calibrate,
    format_summary,
    ground_record,
    points_record,
    summarize,
)


class MetricEval:
    """Judges each image of an `eval` run in `points` mode (`anchors` random true pixels, seeded by (seed, index))
    or `ground` mode (NAME.camera.json, else `camera`)."""

    def __init__(self, dataset: RGBDDataset, judge: Judge, *, anchors: int = 0, seed: int = 0,
                 camera: CameraOptions | None = None, max_depth: float | None = None, keep_pixels: bool = False):
        self.dataset, self.judge, self.anchors, self.seed = dataset, judge, anchors, seed
        self.mode = "points" if anchors else "ground"
        self.camera = camera if camera is not None else CameraOptions()
        self.max_depth, self.keep_pixels = max_depth, keep_pixels
        self.records: list[MetricRecord] = []

    def image(self, index: int, sample: Sample, raw: np.ndarray) -> dict | None:
        """Judge one image; its per-image line for --json (None: no valid pixel)."""
        rng = np.random.default_rng([self.seed, index, 23])  # not the anchored score's anchors: its own draw
        if self.mode == "points":
            rec = points_record(sample.name, raw, sample.depth, self.anchors, rng, self.judge,
                                max_depth=self.max_depth, keep_pixels=self.keep_pixels)
        else:
            h, w = sample.depth.shape
            cam, mount = image_camera(self.dataset.root, sample.name, w, h, self.camera)
            rec = ground_record(sample.name, raw, sample.depth, cam, mount, self.judge, max_depth=self.max_depth,
                                keep_pixels=self.keep_pixels, rng=rng)
        if rec is None:
            return None
        self.records.append(rec)
        return {"verdict": rec.verdict, "reason": rec.reason, "expected_abs_rel": _r(rec.expected),
                "abs_rel": _r(rec.actual), "oracle_abs_rel": _r(rec.oracle), "used": rec.used,
                "within_1_sigma": _r(rec.within1), "within_2_sigma": _r(rec.within2)}

    def summary(self) -> dict:
        return {"mode": self.mode, "anchors": self.anchors, "error_model": self.judge.model is not None,
                **summarize(self.records, self.judge.max_rel_error)}

    def report(self) -> str:
        label = f"metric {self.mode}" + (f" ({self.anchors} anchors)" if self.anchors else "") + \
            (", error model" if self.judge.model is not None else ", analytic")
        return format_summary(self.summary(), label)

    def error_model(self, weights_sha256: str, net_size: int, coverage: float) -> ErrorModel:
        return calibrate(self.records, weights_sha256=weights_sha256, mode=self.mode, anchors=self.anchors,
                         net_size=net_size, coverage=coverage)


def _r(x: float) -> float | None:
    return round(float(x), 5) if np.isfinite(x) else None
