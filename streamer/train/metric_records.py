"""Metric depth judged against the truth, one image at a time: what `eval --anchors N/--ground` and `bench metric`
report, and what an error model is calibrated from.

Each image goes through the daemon's own path (the fit, `geometry.verdict`'s evidence and verdict, the published
map with its unbounded pixels masked, sigma) at the truth's resolution (the network's map resized bilinearly, as
the evaluation protocol does). The truth only scores: AbsRel of the published map over the pixels it covers,
beside the least-squares oracle's; |metric - true| against 1 and 2 sigma; the sparsification curve of sigma; in
points mode the ranking's ceiling (how the map's true error at n fresh pixels ranks the maps, n the anchors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from streamer.geometry.anchors import AnchorSet, fit_points
from streamer.geometry.camera import CameraModel, Mount
from streamer.geometry.error_model import ONE_SIGMA, ErrorModel, fit_error_model
from streamer.geometry.evidence import sigma_metres
from streamer.geometry.fit import abs_rel, oracle_fit, to_metric
from streamer.geometry.ground import fit_ground
from streamer.geometry.verdict import Assessment, assess, ground_evidence, points_evidence
from streamer.train.dataset import valid_mask

FRESH_DRAWS = 20  # points: draws of n fresh published pixels per image, for the ranking's ceiling
TWO_SIGMA = 0.88  # the least share of calibration pixels within 2 sigma
PIXELS_KEPT = 3000  # published pixels per image kept for calibrating sigma (a seeded sample)
SPARSIFY = np.linspace(0.0, 0.95, 20)  # shares of the pixels removed along the sparsification curve


@dataclass(frozen=True)
class Judge:
    """How maps are judged (the `[metric]` settings that matter here)."""

    max_rel_error: float = 0.25
    max_range_m: float = 40.0
    extrapolation: str = "mask"
    anchor_tolerance: float = 0.1
    ground_tolerance: float = 0.05
    min_floor: float = 0.15
    model: ErrorModel | None = None


@dataclass
class MetricRecord:
    name: str
    ok: bool  # the fit succeeded (else: verdict refused, reason says why)
    verdict: str
    reason: str
    oracle: float  # AbsRel of the least-squares oracle on the same map
    expected: float = math.nan
    actual: float = math.nan  # AbsRel of the map (what it scores where published; refused: would have scored)
    coverage: float = 0.0  # share of the valid true pixels the published map covers
    within1: float = math.nan  # share of published pixels with |metric - true| <= sigma
    within2: float = math.nan
    ause: float = math.nan
    published: int = 0  # pixels with a metric depth, a true depth and a sigma
    used: int = 0
    features: dict = field(default_factory=dict)
    pixels: tuple | None = None  # (depth, inverse-depth-truth, evidence, scale, shift, metric-valid) for calibration
    fresh: np.ndarray | None = None  # points: the map's mean relative error at n fresh random published pixels,
    # FRESH_DRAWS times (n = the anchors per image): what the best n-point evidence could see


def pick_anchors(gt: np.ndarray, valid: np.ndarray, n: int, rng: np.random.Generator,
                 wrong: int = 0) -> tuple[AnchorSet, np.ndarray]:
    """`n` random valid true pixels as anchors (u, v, metres), `wrong` of them grossly wrong (x3 or /3, seeded);
    and the indices of the wrong ones."""
    rows, cols = np.nonzero(valid)
    pick = rng.choice(rows.size, size=min(n, rows.size), replace=False)
    metres = gt[rows[pick], cols[pick]].astype(np.float64)
    bad = rng.choice(pick.size, size=min(wrong, pick.size), replace=False)
    metres[bad] *= np.where(rng.random(bad.size) < 0.5, 3.0, 1.0 / 3.0)
    return AnchorSet(np.stack([cols[pick], rows[pick], metres], 1).astype(np.float64), 0, 0, 0.0), bad


def _at_truth(raw: np.ndarray, gt: np.ndarray, max_depth: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    depth: np.ndarray = np.asarray(raw, np.float32)
    if depth.shape != gt.shape:
        depth = cv2.resize(depth, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    valid = valid_mask(gt, max_depth)
    return depth, np.where(valid, gt, np.nan).astype(np.float32), valid


def points_record(name: str, raw: np.ndarray, gt: np.ndarray, n: int, rng: np.random.Generator, judge: Judge, *,
                  wrong: int = 0, max_depth: float | None = None, keep_pixels: bool = False) -> MetricRecord | None:
    """One image in points mode with `n` random true pixels as anchors; None when it has no valid pixel."""
    depth, truth, valid = _at_truth(raw, gt, max_depth)
    if not valid.any():
        return None
    anchors, _ = pick_anchors(truth, valid, n, rng, wrong)
    p = fit_points(depth, anchors, depth.shape[1], depth.shape[0], tol=judge.anchor_tolerance)
    oracle = _oracle(depth, truth, judge.max_range_m)
    if not p.fit.ok:
        return MetricRecord(name, False, "refused", p.fit.reason, oracle)
    ev = points_evidence(depth, p, judge.max_range_m)
    a = assess(ev, mode="points", max_rel_error=judge.max_rel_error, max_range_m=judge.max_range_m,
               extrapolation=judge.extrapolation, model=judge.model)
    return _score(name, a, depth, truth, p.fit.scale, p.fit.shift, oracle, p.used, keep_pixels, rng, fresh_n=n)


def ground_record(name: str, raw: np.ndarray, gt: np.ndarray, camera: CameraModel, mount: Mount, judge: Judge, *,
                  max_depth: float | None = None, keep_pixels: bool = False,
                  rng: np.random.Generator | None = None) -> MetricRecord | None:
    """One image in ground mode; `camera` at the image's (the truth's) size."""
    depth, truth, valid = _at_truth(raw, gt, max_depth)
    if not valid.any():
        return None
    rng = rng if rng is not None else np.random.default_rng(0)
    gf = fit_ground(depth, camera, mount, max_range_m=judge.max_range_m, tol=judge.ground_tolerance,
                    min_floor=judge.min_floor, rng=np.random.default_rng(0))
    oracle = _oracle(depth, truth, judge.max_range_m)
    if not gf.fit.ok:
        return MetricRecord(name, False, "refused", gf.fit.reason, oracle)
    ev = ground_evidence(depth, gf, camera, mount, judge.max_range_m, judge.ground_tolerance)
    a = assess(ev, mode="ground", max_rel_error=judge.max_rel_error, max_range_m=judge.max_range_m,
               extrapolation=judge.extrapolation, model=judge.model)
    return _score(name, a, depth, truth, gf.fit.scale, gf.fit.shift, oracle, gf.floor, keep_pixels, rng)


def _oracle(depth: np.ndarray, truth: np.ndarray, max_range_m: float) -> float:
    s, t = oracle_fit(depth, truth)
    return abs_rel(to_metric(depth, s, t, max_range_m), truth)[0]


def _score(name: str, a: Assessment, depth: np.ndarray, truth: np.ndarray, scale: float, shift: float,
           oracle: float, used: int, keep_pixels: bool, rng: np.random.Generator, fresh_n: int = 0) -> MetricRecord:
    features = {**a.evidence.features()}
    metric = to_metric(depth, scale, shift, a.range_m)
    pixels = None
    if keep_pixels:  # the analytic fit's published pixels, before any verdict: what sigma is calibrated on
        ok = np.flatnonzero(np.isfinite(metric) & np.isfinite(truth))
        pick = ok if ok.size <= PIXELS_KEPT else rng.choice(ok, PIXELS_KEPT, replace=False)
        pixels = (depth.ravel()[pick], truth.ravel()[pick], a.evidence, scale, shift)
    actual, coverage = abs_rel(metric, truth)
    rec = MetricRecord(name, True, a.verdict, a.reason, oracle, a.expected_abs_rel, actual, coverage,
                       used=used, features=features, pixels=pixels)
    if a.verdict == "refused":  # nothing is published (`actual` says what the map would have scored)
        return rec
    sigma = a.sigma(depth, scale, shift, metric)
    both = np.isfinite(metric) & np.isfinite(truth) & np.isfinite(sigma)
    err = np.abs(metric[both] - truth[both])
    s = sigma[both]
    rec.published = int(err.size)
    if err.size:
        rec.within1, rec.within2 = float(np.mean(err <= s)), float(np.mean(err <= 2 * s))
        rec.ause = ause(err / truth[both], s)
    scored = np.isfinite(metric) & np.isfinite(truth)
    if fresh_n and np.count_nonzero(scored) >= fresh_n:
        rel = (np.abs(metric[scored] - truth[scored]) / truth[scored]).astype(np.float64)
        rec.fresh = np.array([rel[rng.choice(rel.size, fresh_n, replace=False)].mean() for _ in range(FRESH_DRAWS)])
    return rec


def ause(rel_err: np.ndarray, sigma: np.ndarray) -> float:
    """Area between the sparsification curve by `sigma` (most uncertain removed first) and the oracle's (largest
    error removed first), the curves being the AbsRel of the pixels left, normalised by the whole AbsRel."""
    total = float(rel_err.mean())
    if total <= 0:
        return 0.0
    by_sigma = rel_err[np.argsort(-sigma, kind="stable")]
    by_error = np.sort(rel_err)[::-1]
    n = rel_err.size
    curve = [(by_sigma[int(f * n):].mean() - by_error[int(f * n):].mean()) / total for f in SPARSIFY]
    return float(np.mean(curve))


def calibrate(records: list[MetricRecord], *, weights_sha256: str, mode: str, anchors: int, net_size: int,
              coverage: float = 0.8) -> ErrorModel:
    """The error model from records made with `keep_pixels` (every fitted image, whatever its verdict): the
    regression of log AbsRel on the features, then the sigma scale: the larger of the one that puts 68.3 % of the
    calibration images' published pixels within one sigma and the one that puts `TWO_SIGMA` of them within two (the
    network's errors have heavier tails than a normal: one sigma alone leaves 2 sigma short). Bisection: sigma's
    interval is not linear in its scale."""
    fitted = [r for r in records if r.ok and math.isfinite(r.actual) and r.pixels is not None]
    model = fit_error_model([r.features for r in fitted], [r.actual for r in fitted], weights_sha256=weights_sha256,
                            mode=mode, anchors=anchors, net_size=net_size, coverage=coverage)
    scale = max(_scale_for(fitted, model, ONE_SIGMA, 1.0), _scale_for(fitted, model, TWO_SIGMA, 2.0))
    return replace(model, sigma_scale=scale)


def _scale_for(records: list[MetricRecord], model: ErrorModel, share: float, sigmas: float) -> float:
    """The sigma scale at which `share` of the pixels lie within `sigmas` sigma."""
    lo, hi = 1e-3, 1e3
    for _ in range(40):
        k = math.sqrt(lo * hi)
        if _within(records, model, k, sigmas) < share:
            lo = k
        else:
            hi = k
    return math.sqrt(lo * hi)


def _within(records: list[MetricRecord], model: ErrorModel, k: float, sigmas: float) -> float:
    inside = total = 0
    for r in records:
        assert r.pixels is not None
        d, t, ev, scale, shift = r.pixels
        f = ev.sigma_factor(model.expected(r.features)[0])
        m = 1.0 / (scale * d + shift)
        s = sigma_metres(d, scale, shift, ev.cov * (k * f) ** 2, ev.sigma_net * k * f, m)
        inside += int(np.count_nonzero(np.abs(m - t) <= sigmas * s))
        total += d.size
    return inside / max(total, 1)


def summarize(records: list[MetricRecord], max_rel_error: float) -> dict:
    """How the verdicts split the images and what they were worth: AbsRel of `good`, of the rest and the oracle's;
    the share of `good` within the promise and the worst `good`; how expected_abs_rel ranks the published maps
    (Spearman) and its median actual / expected; sigma's pooled coverage at 1 and 2 sigma; mean AUSE."""
    n = len(records)
    good = [r for r in records if r.verdict == "good"]
    rest = [r for r in records if r.verdict != "good" and r.ok]
    pub = [r for r in records if r.ok and r.verdict != "refused" and math.isfinite(r.actual)]
    pix = sum(r.published for r in pub)

    def mean(rs: list[MetricRecord], key: str) -> float | None:
        vals = [getattr(r, key) for r in rs if math.isfinite(getattr(r, key))]
        return float(np.mean(vals)) if vals else None

    exp = np.array([r.expected for r in pub])
    act = np.array([r.actual for r in pub])
    return {
        "images": n, "fitted": sum(r.ok for r in records), "max_rel_error": max_rel_error,
        "verdicts": {v: sum(r.verdict == v for r in records) for v in ("good", "uncertain", "refused")},
        "share_good": len(good) / n if n else 0.0,
        "good_abs_rel": mean(good, "actual"), "good_oracle": mean(good, "oracle"),
        "rest_abs_rel": mean(rest, "actual"), "rest_oracle": mean(rest, "oracle"),
        "oracle_abs_rel": mean(records, "oracle"),
        "good_within": float(np.mean([r.actual <= max_rel_error for r in good])) if good else None,
        "good_max": max((r.actual for r in good), default=None),
        "spearman": spearman(exp, act) if len(pub) > 2 else None, "ranking_ceiling": ranking_ceiling(records),
        "median_actual_over_expected": float(np.median(act / exp)) if len(pub) else None,
        "within_1_sigma": sum(r.within1 * r.published for r in pub if r.published) / pix if pix else None,
        "within_2_sigma": sum(r.within2 * r.published for r in pub if r.published) / pix if pix else None,
        "ause": mean(pub, "ause"), "coverage": mean(pub, "coverage"),
    }


def ranking_ceiling(records: list[MetricRecord]) -> float | None:
    """How well n points could rank the published maps at best: the mean over the draws of the Spearman of each
    map's true error at n fresh random published pixels (`MetricRecord.fresh`) against its AbsRel. Anchors rank
    worse: their own errors are drawn toward the fit that rests on them."""
    pub = [r for r in records if r.ok and r.verdict != "refused" and math.isfinite(r.actual) and r.fresh is not None]
    if len(pub) < 3:
        return None
    fresh = np.stack([r.fresh for r in pub if r.fresh is not None])
    act = np.array([r.actual for r in pub])
    return float(np.mean([spearman(fresh[:, j], act) for j in range(fresh.shape[1])]))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties broken by order: continuous data has none)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def format_summary(s: dict, label: str) -> str:
    """Two lines for a terminal: the verdict split and what it is worth; sigma's calibration."""
    def f(x, spec: str = ".3f") -> str:
        return "-" if x is None else format(x, spec)

    v = s["verdicts"]
    return (f"{label}: {s['images']} images: {v['good']} good ({f(s['share_good'], '.0%')}), {v['uncertain']} "
            f"uncertain, {v['refused']} refused; AbsRel good {f(s['good_abs_rel'])} (oracle {f(s['good_oracle'])}),"
            f" rest {f(s['rest_abs_rel'])} (oracle {f(s['rest_oracle'])}); good within max_rel_error "
            f"{s['max_rel_error']:g}: {f(s['good_within'], '.0%')}, worst good {f(s['good_max'])}\n"
            f"{label}: expected_abs_rel vs actual: Spearman {f(s['spearman'], '.2f')}"
            + ("" if s.get("ranking_ceiling") is None else f" (ceiling {s['ranking_ceiling']:.2f})")
            + f", median actual / expected "
            f"{f(s['median_actual_over_expected'], '.2f')}; |metric - true| within 1 sigma "
            f"{f(s['within_1_sigma'], '.0%')}, 2 sigma {f(s['within_2_sigma'], '.0%')}; AUSE {f(s['ause'])}; "
            f"published coverage {f(s['coverage'], '.0%')}")
