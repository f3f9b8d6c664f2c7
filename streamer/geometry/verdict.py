"""The verdict on one metric map: good | uncertain | refused, the reason in words, the expected AbsRel, and sigma.

`good` promises that the map's AbsRel is at most `[metric] max_rel_error`. It is given only when the evidence can
vouch for it: without an error model, the analytic bound (the expected AbsRel, never below the map's own error at
its anchors, times `ANALYTIC_MARGIN`, for the few points the network's error is estimated from) must be within the
promise, enough anchors must have been predicted by the others, few may disagree, and in ground mode most of the
map must lie on the fitted floor (the rest is unverified); with an error model, its calibrated bound must be within
the promise. `refused`: the map is expected to miss the promise by more than twice, or most of it cannot be
bounded; no metric map is published.
A jump of the scale between frames is never `good` (it is flagged, not smoothed in).
Imports no stage: the steady stage's metric step, `infer`, `eval` and `bench` all judge through `assess`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streamer.geometry.anchors import PointsFit
from streamer.geometry.camera import CameraModel, Mount
from streamer.geometry.error_model import ErrorModel
from streamer.geometry.evidence import STRIDE, Evidence, evidence, sigma_metres
from streamer.geometry.ground import GroundFit, floor_grid

VERDICTS = ("good", "uncertain", "refused")
ANALYTIC_MARGIN = 1.5  # the analytic bound over the analytic expectation (tuned on rendered set seed 5)
MIN_VOUCH = 5  # points mode: anchors the fit must use for leave-one-out to vouch for the map
MAX_DISAGREE = 0.2  # points mode: share of the anchors that may disagree with the fit in a `good` map (1 of 8)
MAX_FAR = 0.2  # without an error model: share of the map that may lie over twice as far as the farthest anchor
MIN_VERIFIED = 0.8  # ground without an error model: share of the map that must lie on the fitted floor
REFUSE_FACTOR = 2.0  # expected AbsRel over this many times max_rel_error: refused
MAX_UNBOUNDED = 0.5  # more of the map than this unbounded: refused


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: str
    reason: str
    expected_abs_rel: float  # the map's predicted AbsRel (over its published pixels)
    bound_abs_rel: float  # what `good` rests on: the analytic bound, or the model's coverage quantile
    evidence: Evidence
    range_m: float  # publish as +Inf beyond this (max_range_m, nearer where the map is unbounded and masked)
    sigma_scale: float  # multiplies the analytic sigma so that it implies the expected AbsRel

    def sigma(self, depth: np.ndarray, scale: float, shift: float, metric: np.ndarray) -> np.ndarray:
        """One sigma per pixel in metres (float32, NaN where `metric` is not finite): computed on demand."""
        k = self.sigma_scale
        return sigma_metres(depth, scale, shift, self.evidence.cov * (k * k), self.evidence.sigma_net * k, metric)

    def header(self) -> dict:
        """The verdict fields of the wire `anchor` block."""
        return {"verdict": self.verdict, "verdict_reason": self.reason,
                "expected_abs_rel": round(self.expected_abs_rel, 4) if math.isfinite(self.expected_abs_rel)
                else None, "evidence": self.evidence.header()}


def assess(ev: Evidence, *, mode: str, max_rel_error: float, max_range_m: float, extrapolation: str = "mask",
           model: ErrorModel | None = None, jump: str = "") -> Assessment:
    """The verdict on a map from its evidence (see the module docstring)."""
    features = ev.features()
    if model is not None:
        expected, bound = model.expected(features)
        scale = model.sigma_scale * ev.sigma_factor(expected)
        basis = f"error model: AbsRel {expected:.2f}, at most {bound:.2f} at {model.coverage:.0%}"
    else:
        expected, bound, scale = ev.expected, ev.expected * ANALYTIC_MARGIN, ev.sigma_factor(ev.expected)
        basis = f"predicted AbsRel {expected:.2f}, at most {bound:.2f}"
        if ev.miss > ev.analytic:
            basis += " (the map misses its own anchors by that much)"
    cut = max(1.0 / ev.inv_cut, 1e-6) if ev.inv_cut > 0 else math.inf  # inf cut: all unbounded, none published
    range_m = min(max_range_m, cut) if extrapolation == "mask" else max_range_m
    refuse, doubt = "", []
    if extrapolation == "allow" and (not math.isfinite(expected) or ev.unbounded > MAX_UNBOUNDED):
        doubt.append(f"{ev.unbounded:.0%} of the map is unbounded (its depth interval reaches infinity), "
                     "published as fitted (extrapolation = allow)")
    elif not math.isfinite(expected) or ev.unbounded > MAX_UNBOUNDED:
        refuse = f"{ev.unbounded:.0%} of the map is unbounded (its depth interval reaches infinity)"
    elif expected > REFUSE_FACTOR * max_rel_error:
        refuse = f"{basis}: over {REFUSE_FACTOR:g}x max_rel_error {max_rel_error:g}"
    if jump:
        doubt.append(jump)
    if mode == "points" and ev.used < MIN_VOUCH:
        doubt.append(f"only {ev.used} anchors used: too few to vouch for the map (need {MIN_VOUCH})")
    if mode == "points" and ev.rejected > MAX_DISAGREE:
        doubt.append(f"{ev.rejected:.0%} of the anchors disagree with the fit: the map's shape is off there")
    if model is None and ev.far_outside > MAX_FAR:
        doubt.append(f"{ev.far_outside:.0%} of the map is over twice as far as the farthest point the fit rests "
                     "on: unverified without an error model")
    if mode == "ground" and model is None and ev.verified < MIN_VERIFIED:
        doubt.append(f"{1 - ev.verified:.0%} of the map is off the floor, unverified without an error model")
    if bound > max_rel_error and math.isfinite(bound):
        doubt.append(f"{basis}: over max_rel_error {max_rel_error:g}")
    if refuse:
        verdict, reason = "refused", refuse
    elif doubt:
        verdict, reason = "uncertain", "; ".join(doubt)
    else:
        verdict, reason = "good", f"{basis}: within max_rel_error {max_rel_error:g}"
    if ev.unbounded > 0 and extrapolation == "mask" and verdict != "refused":
        reason += f"; {ev.unbounded:.0%} unbounded, masked"
    return Assessment(verdict, reason, expected, bound, ev, range_m, scale)


def points_evidence(depth: np.ndarray, p: PointsFit, max_range_m: float) -> Evidence:
    """The evidence of an anchors fit (`fit_points`, which succeeded) on its map."""
    assert p.d is not None and p.g is not None and p.fit.weights is not None  # a successful fit carries them
    return evidence(depth, p.d, p.g, p.fit.weights, p.fit.scale, p.fit.shift, max_range_m)


def ground_evidence(depth: np.ndarray, gf: GroundFit, camera: CameraModel, mount: Mount, max_range_m: float,
                    tol: float) -> Evidence:
    """The evidence of a floor fit (`fit_ground`, which succeeded) on its map; `camera` at the map's size."""
    assert gf.d is not None and gf.g is not None and gf.fit.inliers is not None
    w = gf.fit.inliers / gf.g ** 2  # the floor fit's own weighting (relative error)
    return evidence(depth, gf.d, gf.g, w, gf.fit.scale, gf.fit.shift, max_range_m, loo=False,
                    floor_g=floor_grid(camera, mount, STRIDE), floor_tol=tol)


class LazySigma:
    """One published map's per-pixel sigma (metres, float32), computed on the first ask and kept: nothing is
    spent on it while nobody reads it. Safe to share between threads (a race computes it twice, same result)."""

    def __init__(self, assessment: Assessment, depth: np.ndarray, scale: float, shift: float,
                 metric: np.ndarray) -> None:
        self._args = (assessment, depth, scale, shift, metric)
        self._sigma: np.ndarray | None = None

    @property
    def computed(self) -> bool:
        return self._sigma is not None

    def get(self) -> np.ndarray:
        if self._sigma is None:
            a, depth, scale, shift, metric = self._args
            self._sigma = a.sigma(depth, scale, shift, metric)
        return self._sigma

    def at(self, v: int, u: int) -> float:
        """Sigma at one pixel (without computing the whole map)."""
        if self._sigma is not None:
            return float(self._sigma[v, u])
        a, depth, scale, shift, metric = self._args
        return float(a.sigma(depth[v:v + 1, u:u + 1], scale, shift, metric[v:v + 1, u:u + 1])[0, 0])
