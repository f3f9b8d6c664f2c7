"""Sparse known depths ("anchors"): (u, v, metres) in some image's pixels, checked one by one, sampled from a map.

Bad anchors are refused one by one with a message naming them (index, u, v, metres); the rest still count. The
same checks serve the live `points` mode and `infer --anchors`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streamer.geometry.fit import LineFit, fit_anchors


@dataclass(frozen=True, slots=True)
class AnchorSet:
    """One batch of anchors from one measurement: N x 3 (u, v, metres) in a width x height image's pixels."""

    points: np.ndarray  # N x 3 float64
    width: int  # the image size u, v refer to (0 = the source frame's)
    height: int
    capture_wall: float  # time.time() of the measurement, on the sender's clock
    sender: str = ""  # who sent it (a header field), for messages

    @classmethod
    def parse(cls, items, *, width: int = 0, height: int = 0, capture_wall: float = math.nan,
              sender: str = "") -> AnchorSet:
        """From [[u, v, metres], ...] or an N x 3 numeric array (taken whole, no Python loop); ValueError naming
        the first item that is not three numbers."""
        if isinstance(items, np.ndarray) and items.ndim == 2 and items.shape[1] == 3 and items.dtype.kind in "iuf":
            return cls(items.astype(np.float64), int(width), int(height), float(capture_wall), sender)
        rows = []
        for i, item in enumerate(items):
            if (not isinstance(item, (list, tuple, np.ndarray)) or len(item) != 3
                    or not all(isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool)
                               for x in item)):
                raise ValueError(f"anchor {i}: expected [u, v, metres] (three numbers), got {item!r:.60}")
            rows.append([float(x) for x in item])
        points = np.array(rows, dtype=np.float64).reshape(-1, 3)
        return cls(points, int(width), int(height), float(capture_wall), sender)


def check(anchors: AnchorSet, width: int, height: int) -> tuple[np.ndarray, list[str]]:
    """(N bool: usable, reasons for the others). u, v must lie inside the width x height image (or the set's own
    size, when it names one), metres must be finite and > 0."""
    w, h = (anchors.width, anchors.height) if anchors.width else (width, height)
    u, v, z = anchors.points.T
    with np.errstate(invalid="ignore"):
        finite_uv = np.isfinite(u) & np.isfinite(v)
        inside = finite_uv & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
        ok = inside & np.isfinite(z) & (z > 0)
    reasons = []
    for i in np.flatnonzero(~ok):  # vectorised above: only the refused ones get a message
        why = ("u or v is not a finite number" if not finite_uv[i] else f"outside the {w}x{h} image"
               if not inside[i] else "depth is not a finite number" if not math.isfinite(z[i])
               else "depth must be more than 0 m")
        reasons.append(f"anchor {i} (u={u[i]:g}, v={v[i]:g}, {z[i]:g} m): {why}")
    return ok, reasons


def sample(depth: np.ndarray, anchors: AnchorSet, frame_width: int, frame_height: int) -> np.ndarray:
    """The map's values at the anchors (bilinear), the anchors' pixels mapped from their image to the map's size
    (pixel-area convention, as `CameraModel.scaled`). Out-of-image anchors must have been dropped already."""
    h, w = depth.shape
    src_w, src_h = (anchors.width, anchors.height) if anchors.width else (frame_width, frame_height)
    u = np.clip((anchors.points[:, 0] + 0.5) * w / src_w - 0.5, 0, w - 1)
    v = np.clip((anchors.points[:, 1] + 0.5) * h / src_h - 0.5, 0, h - 1)
    u0, v0 = np.minimum(np.floor(u).astype(int), w - 2), np.minimum(np.floor(v).astype(int), h - 2)
    u0, v0 = np.maximum(u0, 0), np.maximum(v0, 0)
    fu, fv = u - u0, v - v0
    d = depth.astype(np.float64)
    u1, v1 = np.minimum(u0 + 1, w - 1), np.minimum(v0 + 1, h - 1)
    return ((1 - fv) * ((1 - fu) * d[v0, u0] + fu * d[v0, u1]) + fv * ((1 - fu) * d[v1, u0] + fu * d[v1, u1]))


@dataclass(frozen=True, slots=True)
class PointsFit:
    fit: LineFit
    given: int  # anchors in the set
    usable: int  # of those, the ones that passed `check`
    used: int  # of those, the ones with a weight in the fit (its inliers: all but the gross outliers)
    rejected: list[str]  # messages for the anchors refused by `check`
    d: np.ndarray | None = None  # the map's values at the fitted anchors (the finite ones), for the evidence
    g: np.ndarray | None = None  # their true inverse depths, 1/m


def fit_points(depth: np.ndarray, anchors: AnchorSet, frame_width: int, frame_height: int, *,
               tol: float = 0.1) -> PointsFit:
    """Robust scale/shift of `depth` from the usable anchors (`fit_anchors`); says which were refused and how many
    the fit used. `tol`: the least robust spread of the map's error assumed, as a relative depth error."""
    ok, rejected = check(anchors, frame_width, frame_height)
    given, usable = len(anchors.points), int(ok.sum())
    good = AnchorSet(anchors.points[ok], anchors.width, anchors.height, anchors.capture_wall, anchors.sender)
    d = sample(depth, good, frame_width, frame_height) if usable else np.empty(0)
    finite = np.isfinite(d)
    fit = fit_anchors(d[finite], 1.0 / good.points[finite, 2], tol=tol)
    if not fit.ok:
        first = f"; {rejected[0]}" if rejected else ""
        fit = LineFit(False, reason=f"{fit.reason} ({usable} of {given} anchors usable{first})")
    used = int(fit.inliers.sum()) if fit.ok and fit.inliers is not None else 0
    return PointsFit(fit, given, usable, used, rejected, d[finite], 1.0 / good.points[finite, 2])
