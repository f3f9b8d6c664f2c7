"""Steady depth: align each map to the running estimate, smooth it over time and space, track its colour range."""
from __future__ import annotations

from streamer.steady.align import AlignFit, fit_affine
from streamer.steady.metric import MetricOptions, MetricResult, MetricStage
from streamer.steady.range_tracker import RangeTracker
from streamer.steady.steadier import ALIGNED, REJECTED, SEEDED, UNALIGNED, Steadier, SteadyOptions, SteadyResult

__all__ = ["ALIGNED", "REJECTED", "SEEDED", "UNALIGNED", "AlignFit", "MetricOptions", "MetricResult", "MetricStage",
           "RangeTracker", "Steadier", "SteadyOptions", "SteadyResult", "fit_affine"]
