"""The floor as an anchor: where the mount says the floor would be, the floor's inverse depth is known exactly.

A floor pixel's inverse depth is g(u, v) = down . ray(u, v) / height_m (`Mount.floor_inverse_depth`). Every pixel
below the horizon could be floor; those that are (and only those) satisfy g = scale * d + shift for the one true
scale and shift. Objects standing on the floor and walls are nearer than the floor behind them, so they disagree
with every hypothesis that the floor agrees with: a robust fit (`fit_line`) over a grid of candidate pixels finds
the floor as the largest agreeing set. It is refused when that set is too small (a wall filling the view, no floor
in sight) or spans too little distance (a horizontal band of a wall can mimic a sliver of floor).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from streamer.geometry.camera import CameraModel, Mount
from streamer.geometry.fit import LineFit, fit_line

SAMPLES = 1200  # candidate pixels the fit looks at (a grid below the horizon); ~1.5 ms for the fit


@dataclass(frozen=True, slots=True)
class GroundFit:
    fit: LineFit
    candidates: int  # pixels below the horizon (within range) that were tried
    floor: int  # of those, the ones that agreed: the floor the fit rests on
    d: np.ndarray | None = None  # the map at the (finite) candidates, and the floor's inverse depth there (1/m)
    g: np.ndarray | None = None


def fit_ground(depth: np.ndarray, camera: CameraModel, mount: Mount, *, max_range_m: float, tol: float = 0.05,
               min_floor: float = 0.15, min_span: float = 1.5, rng: np.random.Generator | None = None) -> GroundFit:
    """Scale and shift of `depth` (relative inverse depth at camera's resolution) that put the floor where the
    mount says. `min_floor`: the share of candidate pixels that must agree; `min_span`: the farthest agreeing floor
    point must be at least this many times as far as the nearest."""
    rows, cols, g = _candidates(camera, mount, max_range_m)
    if g.size < 2:
        return GroundFit(LineFit(False, reason="no floor in view: the mount puts the whole image above the horizon "
                                               f"(or farther than {max_range_m:g} m)"), int(g.size), 0)
    d = depth[rows, cols]
    finite = np.isfinite(d)
    fit = fit_line(d[finite], g[finite], tol=tol, hypotheses=160,
                   rng=rng if rng is not None else np.random.default_rng(0))
    if not fit.ok:
        return GroundFit(LineFit(False, reason=f"no floor found: {fit.reason}"), int(g.size), 0)
    assert fit.inliers is not None
    floor = int(fit.inliers.sum())
    if floor < min_floor * g.size:
        return GroundFit(LineFit(False, reason=f"no floor found: only {floor} of {g.size} pixels below the horizon "
                                               f"agree on one floor (need {min_floor:.0%}); a wall or objects fill "
                                               "the view"), int(g.size), floor)
    span = g[finite][fit.inliers]
    if span.max() < min_span * span.min():
        return GroundFit(LineFit(False, reason=f"no floor found: the agreeing pixels span too little distance "
                                               f"({1 / span.max():.2f} to {1 / span.min():.2f} m)"), int(g.size),
                         floor)
    return GroundFit(fit, int(g.size), floor, d[finite], g[finite])


@lru_cache(maxsize=8)
def floor_grid(camera: CameraModel, mount: Mount, stride: int) -> np.ndarray:
    """The floor's inverse depth on every `stride`-th pixel (from stride // 2), as the evidence samples the map."""
    return mount.floor_inverse_depth(camera)[stride // 2::stride, stride // 2::stride]


@lru_cache(maxsize=8)
def _candidates(camera: CameraModel, mount: Mount, max_range_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid of pixels where the floor, if there, is in front of the camera and within range."""
    g = mount.floor_inverse_depth(camera)
    ok = g > 1.0 / max_range_m
    step = max(1, int(np.sqrt(ok.sum() / SAMPLES)))
    grid = np.zeros_like(ok)
    grid[step // 2::step, step // 2::step] = True
    rows, cols = np.nonzero(ok & grid)
    return rows, cols, g[rows, cols]
