"""Steady depth: align, smooth and colorize relative inverse depth maps so the preview does not flicker."""
from __future__ import annotations

from .align import AlignFit, fit_affine
from .colorize import COLORMAPS, ColorOptions, Colorizer
from .range_tracker import RangeTracker
from .steadier import ALIGNED, REJECTED, SEEDED, UNALIGNED, Steadier, SteadyOptions, SteadyResult
from .views import VIEWS, ViewOptions, render_view

__all__ = [
    "ALIGNED", "COLORMAPS", "REJECTED", "SEEDED", "UNALIGNED", "VIEWS", "AlignFit", "ColorOptions", "Colorizer",
    "RangeTracker", "Steadier", "SteadyOptions", "SteadyResult", "ViewOptions", "fit_affine", "render_view",
]
