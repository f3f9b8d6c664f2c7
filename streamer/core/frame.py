"""The records that flow one way through the pipeline: source -> model -> steady -> publishers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamer.core.picture import Picture
from streamer.geometry.anchor_fit import AnchorFit
from streamer.geometry.camera import CameraModel, Mount
from streamer.geometry.verdict import LazySigma


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One decoded camera frame, owned by whoever holds it (never a view into a buffer a decoder reuses)."""

    seq: int  # per-source counter, +1 for every decoded frame, so gaps downstream reveal drops
    picture: Picture  # the pixels: full-size BGR (converted when first asked for) and, from a decoder, scaled RGB
    capture_wall: float  # time.time() at decode, for humans and other hosts
    capture_mono: float  # time.monotonic() at decode, for latency and staleness
    pts: float | None = None  # stream presentation time in seconds, when the container has one
    truth_depth: np.ndarray | None = None  # metric depth (m), H x W float32; only synthetic sources know it

    @property
    def image(self) -> np.ndarray:
        """H x W x 3 uint8 BGR, C-contiguous; converted on the first ask (by that thread), then kept."""
        return self.picture.bgr()

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), known without converting anything."""
        return self.picture.height, self.picture.width


@dataclass(frozen=True, slots=True)
class DepthFrame:
    """A captured frame with its steadied relative inverse depth (network resolution) and how it was made."""

    captured: CapturedFrame
    raw: np.ndarray  # network output, float32 h x w, before any alignment or smoothing
    depth: np.ndarray  # steadied relative inverse depth, float32 h x w (bigger = nearer)
    depth_range: tuple[float, float]  # (lo, hi) used to colorize `depth`, smoothed over time
    align: tuple[float, float]  # (scale, shift) applied to `raw` to match the running estimate
    infer_ms: float  # network time for this frame
    done_mono: float  # time.monotonic() when steadying finished
    meta: dict = field(default_factory=dict)  # model name, weights sha256, backend, ...
    camera: CameraModel | None = None  # intrinsics of `depth` (and `metric`): the source's, scaled; None = unknown
    mount: Mount | None = None  # the camera's pose on the robot (base -> optical frame); None = unknown
    metric: np.ndarray | None = None  # float32 h x w z-depth in metres (NaN invalid, +inf beyond max range), or
    # None: metric off, or anchoring lost (a held fit is never older than [metric] hold_s)
    anchor: AnchorFit | None = None  # how `metric` was anchored, or why it is None; None when metric is off
    sigma: LazySigma | None = None  # one sigma (metres) per pixel of `metric`, computed when first read
