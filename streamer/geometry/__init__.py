"""Geometry: the camera model and mount, back-projection to point clouds, and the metric scale/shift fits.

Imports no stage (only `streamer.config`), so sources, the steady stage, publishers and offline tools share it.
"""
from __future__ import annotations

from streamer.geometry.anchor_fit import MODES, AnchorFit
from streamer.geometry.camera import CameraModel, Mount
from streamer.geometry.cloud import PointCloud, backproject
from streamer.geometry.fit import LineFit, abs_rel, fit_anchors, fit_line, oracle_fit, to_metric
from streamer.geometry.options import CameraOptions

__all__ = ["MODES", "AnchorFit", "CameraModel", "CameraOptions", "LineFit", "Mount", "PointCloud", "abs_rel",
           "backproject", "fit_anchors", "fit_line", "oracle_fit", "to_metric"]
