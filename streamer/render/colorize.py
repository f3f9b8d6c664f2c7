"""Depth map -> BGR uint8 image, against a given (smoothed) value range, with a precomputed colormap LUT.

The range comes from `RangeTracker`, never from this frame's min/max, so colors stay put when the scene does.
Normalisation, optional log scaling and CLAHE run at network resolution (cheap); the 8-bit index image is
then resized to the camera size before the colormap, so interpolation never invents colors off the map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.config.options import opt

COLORMAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "plasma": cv2.COLORMAP_PLASMA,
    "magma": cv2.COLORMAP_MAGMA,
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "gray": None,  # plain intensity
}
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}
LOG_GAIN = 63.0  # log mode maps u -> log1p(63 u) / log(64): the far 1/64 of the range gets ~1/6 of the colors


@dataclass(frozen=True)
class ColorOptions:
    colormap: str = opt("inferno", "colormap for depth (near = bright for inferno/magma/plasma/viridis/turbo)",
                        choices=tuple(COLORMAPS))
    log: bool = opt(False, "log-scale the normalised depth, spreading colors over the far (small) values")
    clahe: bool = opt(False, "local contrast equalisation (CLAHE) after normalisation; shows detail, not scale")
    clahe_clip: float = opt(2.0, "CLAHE clip limit (higher = more contrast, more noise)", min=0.1, max=40.0)
    clahe_grid: int = opt(8, "CLAHE tiles along each axis", unit="tiles", min=1, max=64)
    interpolation: str = opt("linear", "resampling when resizing to the camera size", choices=tuple(INTERPOLATIONS))


def colormap_lut(name: str) -> np.ndarray:
    """256 x 1 x 3 uint8 BGR lookup table for `name`."""
    index = np.arange(256, dtype=np.uint8).reshape(256, 1)
    code = COLORMAPS[name]
    if code is None:
        return np.repeat(index[:, :, None], 3, axis=2)
    return cv2.applyColorMap(index, code)


class Colorizer:
    """Colorizes depth maps; caches the LUT, the CLAHE object and work buffers. Not thread-safe."""

    def __init__(self, options: ColorOptions | None = None) -> None:
        self.options = options or ColorOptions()
        if self.options.colormap not in COLORMAPS:
            raise ValueError(f"colormap: unknown {self.options.colormap!r}, choose from {tuple(COLORMAPS)}")
        if self.options.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: unknown {self.options.interpolation!r}")
        self.lut = colormap_lut(self.options.colormap)
        self._interp = INTERPOLATIONS[self.options.interpolation]
        self._clahe = (cv2.createCLAHE(self.options.clahe_clip, (self.options.clahe_grid,) * 2)
                       if self.options.clahe else None)
        self._norm: np.ndarray | None = None
        self._index: np.ndarray | None = None

    def normalize(self, depth: np.ndarray, depth_range: tuple[float, float]) -> np.ndarray:
        """The 8-bit colormap index at the input resolution (0 = lo or below, 255 = hi or above).
        Returns an internal buffer, valid until the next call."""
        if self._norm is None or self._norm.shape != depth.shape:
            self._norm = np.empty(depth.shape, np.float32)
            self._index = np.empty(depth.shape, np.uint8)
        u, index = self._norm, self._index
        assert index is not None
        lo, hi = float(depth_range[0]), float(depth_range[1])
        span = hi - lo if hi - lo > 0.0 and math.isfinite(hi - lo) else 1.0
        np.subtract(depth, lo, out=u)
        u *= 1.0 / span
        np.nan_to_num(u, copy=False, nan=0.0)
        np.clip(u, 0.0, 1.0, out=u)
        if self.options.log:
            u *= LOG_GAIN
            np.log1p(u, out=u)
            u *= 1.0 / math.log1p(LOG_GAIN)
        u *= 255.0
        u += 0.5  # round, not truncate
        np.copyto(index, u, casting="unsafe")
        if self._clahe is not None:
            self._clahe.apply(index, dst=index)
        return index

    def colorize(self, depth: np.ndarray, depth_range: tuple[float, float],
                 size: tuple[int, int] | None = None) -> np.ndarray:
        """BGR uint8 image of `depth` (float h x w) colored over `depth_range`; resized to `size` = (W, H)
        when given (the camera frame size). Returns a new array the caller owns."""
        index = self.normalize(depth, depth_range)
        if size is not None and (size[0], size[1]) != (index.shape[1], index.shape[0]):
            index = cv2.resize(index, (int(size[0]), int(size[1])), interpolation=self._interp)
        return cv2.applyColorMap(index, self.lut)
