"""The MiDaS evaluation protocol as pure numpy: resize, per-image scale/shift alignment on inverse depth, metrics.

1. the raw output (relative inverse depth) is resized to the ground truth's size, bilinear (cv2.INTER_LINEAR);
2. valid pixels: ground truth finite and > 0, and <= max_depth when given;
3. least-squares scale and shift of the prediction onto the ground-truth inverse depth over the valid pixels;
4. the aligned inverse depth is clipped below at 1/cap (cap = max_depth, else the image's largest valid depth);
   predicted depth = 1 / aligned;
5. AbsRel, RMSE (metres) and delta1..3 over the valid pixels; a data set's figure is the mean over its images.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from streamer.geometry.anchors import AnchorSet, fit_points
from streamer.geometry.fit import align_scale_shift
from streamer.train.dataset import valid_mask

__all__ = ["METRICS", "aggregate", "align_scale_shift", "anchored_metrics", "depth_metrics"]

METRICS = ("abs_rel", "rmse", "delta1", "delta2", "delta3")


def depth_metrics(pred_raw: np.ndarray, gt_depth: np.ndarray, max_depth: float | None = None) -> dict | None:
    """Metrics of one image (see the module docstring); None when it has no valid ground-truth pixel."""
    pred, gt, valid = _prepare(pred_raw, gt_depth, max_depth)
    n = int(valid.sum())
    if n == 0:
        return None
    d = gt[valid].astype(np.float64)
    scale, shift = align_scale_shift(pred[valid], 1.0 / d)
    return {**_scores(pred[valid], d, scale, shift, max_depth), "valid_pixels": n, "scale": scale, "shift": shift}


def _prepare(pred_raw: np.ndarray, gt_depth: np.ndarray,
             max_depth: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1 and 2: the prediction at the ground truth's size, the ground truth, its valid pixels."""
    gt = np.asarray(gt_depth, np.float32)
    pred: np.ndarray = np.asarray(pred_raw, np.float32)
    if pred.shape != gt.shape:
        pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    return pred, gt, valid_mask(gt, max_depth)


def _scores(pred: np.ndarray, d: np.ndarray, scale: float, shift: float, max_depth: float | None) -> dict:
    """Steps 4 and 5 of the protocol for predictions `pred` and true depths `d` (the valid pixels)."""
    cap = float(max_depth) if max_depth is not None else float(d.max())
    aligned = np.maximum(scale * pred.astype(np.float64) + shift, 1.0 / cap)
    d_hat = 1.0 / aligned
    ratio = np.maximum(d_hat / d, d / d_hat)
    return {
        "abs_rel": float(np.mean(np.abs(d_hat - d) / d)),
        "rmse": float(np.sqrt(np.mean((d_hat - d) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
    }


def anchored_metrics(pred_raw: np.ndarray, gt_depth: np.ndarray, anchors: int, rng: np.random.Generator,
                     max_depth: float | None = None, tol: float = 0.1, wrong: int = 0) -> dict | None:
    """The protocol with scale and shift fitted robustly from only `anchors` random valid true pixels (what a
    rangefinder or a few tags would give), as the daemon's `points` mode fits them. `wrong`: that many of them get a
    gross error (depth x3 or /3, seeded), to measure the fit's robustness; "wrong_used" says how many of those the
    fit still used. None: no valid pixel; {"ok": False, "reason"} when the fit fails."""
    pred, gt, valid = _prepare(pred_raw, gt_depth, max_depth)
    h, w = gt.shape
    rows, cols = np.nonzero(valid)
    if rows.size == 0:
        return None
    pick = rng.choice(rows.size, size=min(anchors, rows.size), replace=False)
    metres = gt[rows[pick], cols[pick]].astype(np.float64)
    bad = rng.choice(pick.size, size=min(wrong, pick.size), replace=False)
    metres[bad] *= np.where(rng.random(bad.size) < 0.5, 3.0, 1.0 / 3.0)
    points = AnchorSet(np.stack([cols[pick], rows[pick], metres], 1).astype(np.float64), 0, 0, 0.0)
    fit = fit_points(pred, points, w, h, tol=tol)
    if not fit.fit.ok:
        return {"ok": False, "reason": fit.fit.reason, "anchors": len(pick), "used": 0}
    scores = _scores(pred[valid], gt[valid].astype(np.float64), fit.fit.scale, fit.fit.shift, max_depth)
    inliers = fit.fit.inliers if fit.fit.inliers is not None and fit.fit.inliers.size == pick.size else None
    wrong_used = int(inliers[bad].sum()) if inliers is not None else None  # None: some anchor was not usable
    return {"ok": True, **scores, "anchors": len(pick), "used": fit.used, "wrong_used": wrong_used}


def aggregate(per_image: Sequence[dict | None]) -> dict:
    """Mean of each metric over the images that had valid pixels; `images` counts those."""
    scored = [m for m in per_image if m is not None]
    out: dict = {"images": len(scored)}
    for key in METRICS:
        out[key] = float(np.mean([m[key] for m in scored])) if scored else None
    return out
