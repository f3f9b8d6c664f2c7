"""Display views that combine a camera frame with its colorized depth: depth only, side by side, or overlay."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.config.options import choice_error, opt

VIEWS = ("depth", "side_by_side", "overlay")  # every view name any publisher, URL or config may use


def check_view(view: str) -> str:
    """`view` if it is one of VIEWS, else ValueError with the one wording every caller uses."""
    problem = choice_error(view, VIEWS)
    if problem:
        raise ValueError(f"view = {view!r}: {problem}")
    return view


def overlay_alpha_opt() -> float:
    """The one declaration of the overlay weight, for every options record that carries it."""
    return opt(0.5, "weight of the depth colors in the overlay view (0 = camera, 1 = depth)", min=0.0, max=1.0)


@dataclass(frozen=True)
class ViewOptions:
    view: str = opt("side_by_side", "what the preview shows: depth only, camera | depth, or a blend", choices=VIEWS)
    overlay_alpha: float = overlay_alpha_opt()


def render_view(camera: np.ndarray, depth_bgr: np.ndarray, options: ViewOptions | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """Compose `camera` (H x W x 3 uint8 BGR) and `depth_bgr` (any size, resized to H x W) as `options.view`.

    Shapes: depth and overlay are H x W x 3, side_by_side is H x 2W x 3. `out`, when given with the right shape,
    is written and returned (reuse it only once the last frame was sent). The depth view without `out` returns
    `depth_bgr` itself (resized if needed)."""
    o = options or ViewOptions()
    view, alpha = o.view, float(o.overlay_alpha)
    h, w = camera.shape[:2]
    check_view(view)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay_alpha must be in [0, 1], got {alpha}")
    if depth_bgr.shape[:2] != (h, w):
        depth_bgr = cv2.resize(depth_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    if view == "depth":
        if out is None:
            return depth_bgr  # nothing to compose; no copy
        np.copyto(out, depth_bgr)
        return out
    if view == "side_by_side":
        if out is None:
            out = np.empty((h, 2 * w, 3), np.uint8)
        out[:, :w] = camera
        out[:, w:] = depth_bgr
        return out
    # Exact at the ends: weights 1 and 0 give the source back bit for bit.
    return cv2.addWeighted(camera, 1.0 - alpha, depth_bgr, alpha, 0.0, dst=out)
