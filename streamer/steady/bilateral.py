"""Edge-preserving spatial smoothing of a depth map (OpenCV bilateral filter on float32).

Relative depth has no fixed units, so `sigma_color` is a fraction of the map's robust range: the same setting
smooths a 0..1 map and a 0..3000 map alike, and keeps depth edges (object boundaries) sharp in both.
"""
from __future__ import annotations

import cv2
import numpy as np

OUTLIER_SPANS = 10.0  # values this many ranges outside (lo, hi) are clipped before filtering (see below)


def smooth_edges(src: np.ndarray, depth_range: tuple[float, float], *, d: int, sigma_color: float,
                 sigma_space: float, enabled: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """Bilateral-filter `src` (float32 h x w) into `out` (allocated when None) and return it.

    `depth_range` is the robust (lo, hi), e.g. (p2, p98), that `sigma_color` is relative to; `d` is the pixel
    neighbourhood diameter. Disabled, or given a flat map, it copies: the output is always a separate array."""
    if out is None:
        out = np.empty_like(src)
    lo, hi = float(depth_range[0]), float(depth_range[1])
    span = hi - lo
    sc = sigma_color * span
    if not enabled or not (sc > 0.0) or not np.isfinite(sc):
        np.copyto(out, src)
        return out
    # OpenCV's float bilateral tabulates its color weights over the image's min..max in 4096 bins: one absurd
    # pixel (say 1e9) would make every real difference fall in bin 0 and the filter blur across edges.
    vmin, vmax, _, _ = cv2.minMaxLoc(src)
    floor, ceil = lo - OUTLIER_SPANS * span, hi + OUTLIER_SPANS * span
    if vmin < floor or vmax > ceil:
        src = np.clip(src, floor, ceil)
    return cv2.bilateralFilter(src, int(d), float(sc), float(sigma_space), dst=out)
