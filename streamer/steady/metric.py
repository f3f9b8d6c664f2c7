"""The metric stage: turns each steadied relative map into z-depth in metres, or says why it cannot.

It works like this, once per frame (`MetricStage.update`), in the inference worker after the steadier:
  1. camera - the frame's camera model ([camera], else the source's own) scaled to the depth map, and the mount;
  2. fit    - this frame's scale/shift: `ground` (the floor where the mount puts it), `points` (the newest anchors
              from another process, if no older than max_age_s), or `fixed` (from the config);
  3. smooth - an EMA of scale and shift, in the steady estimate's units (so it restarts when the steadier
              re-seeds: the old units mean nothing after that);
  4. hold   - a frame whose fit fails keeps the last good fit for at most hold_s, flagged with its age and why;
              after that the anchor is lost: no metric map, and every channel says so (`AnchorFit.ok` false).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from streamer.config.net import zmq_endpoint_problem
from streamer.config.options import opt
from streamer.errors import ConfigError
from streamer.geometry import MODES, AnchorFit, CameraModel, CameraOptions, Mount, to_metric
from streamer.geometry.anchors import AnchorSet, fit_points
from streamer.geometry.error_model import ErrorModel, ErrorModelError
from streamer.geometry.evidence import Evidence, jump
from streamer.geometry.fit import score
from streamer.geometry.ground import fit_ground
from streamer.geometry.verdict import Assessment, LazySigma, assess, ground_evidence, points_evidence
from streamer.steady.steadier import SEEDED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricOptions:
    mode: str = opt("off", "metric depth: off (relative only), ground (the floor and the [camera] mount fix the "
                           "scale), points (sparse known depths sent to anchors_endpoint), fixed (scale and shift "
                           "below)", choices=MODES)
    max_range_m: float = opt(40.0, "farther than this is published as +inf (REP 118)", unit="m", min=0.1,
                             max=10000.0)
    smoothing: float = opt(0.3, "weight of a new frame's fit in the running scale/shift (1 = none)", min=0.01,
                           max=1.0)
    hold_s: float = opt(2.0, "when a frame cannot be anchored, keep the last good fit this long (flagged with its "
                             "age); after it, no metric depth until anchoring is back", unit="s", min=0.0, max=60.0)
    scale: float = opt(0.0, "fixed mode: 1/z = scale * depth + shift, depth in the steadied map's units",
                       unit="1/m", min=0.0, max=1e9)
    shift: float = opt(0.0, "fixed mode: the shift of that relation", unit="1/m", min=-1e9, max=1e9)
    ground_tolerance: float = opt(0.05, "ground: a pixel is floor when within this relative depth error of the "
                                        "fitted floor", min=0.005, max=0.5)
    min_floor: float = opt(0.15, "ground: share of the pixels below the horizon that must agree on one floor",
                           min=0.01, max=1.0)
    anchors_endpoint: str = opt("tcp://127.0.0.1:5557", "points: ZeroMQ address the daemon binds a SUB socket on "
                                                        "for the `anchors` topic (see WIRE.md)")
    max_anchors: int = opt(10000, "points: most anchors one message may carry; a larger message is refused (ZeroMQ "
                                  "drops one over ~64 bytes per anchor before buffering it, so a huge message costs "
                                  "nothing)", min=1, max=1_000_000)
    max_age_s: float = opt(0.5, "points: anchors measured longer than this before the frame are ignored",
                           unit="s", min=0.01, max=3600.0)
    anchor_tolerance: float = opt(0.1, "points: the least spread of the map's error the robust fit assumes, as a "
                                  "relative depth error (when the anchors agree closely, one this far off keeps "
                                  "half its weight, one 3x as far none)",
                                  min=0.005, max=1.0)
    max_rel_error: float = opt(0.25, "what a `good` verdict promises: the map's AbsRel (mean relative depth error) "
                                     "is at most this; maps predicted to miss it are `uncertain`, by over twice "
                                     "`refused` (no metric map)", min=0.01, max=10.0)
    extrapolation: str = opt("mask", "pixels whose depth interval reaches infinity (1/z <= 0 within 2 sigma): mask "
                                     "(published as +inf, REP 118) or allow (published as fitted)",
                             choices=("mask", "allow"))
    error_model: str = opt("", "a calibrated error model (`depth-streamer eval DATA --weights W --anchors N "
                               "--error-model-out FILE`, or --ground); \"\" = the analytic one")

    def tcp_listener(self) -> tuple[str, int] | None:
        """(host, port) of a tcp:// anchors endpoint, for the config's port clash check; None for ipc://."""
        host, _, port = self.anchors_endpoint.removeprefix("tcp://").rpartition(":")
        return (host, int(port)) if self.anchors_endpoint.startswith("tcp://") and port.isdigit() else None

    def validate(self) -> None:
        if self.mode == "fixed" and self.scale <= 0:
            raise ValueError("scale: fixed mode needs a positive scale (1/z = scale * depth + shift)")
        if self.error_model and not Path(self.error_model).is_file():
            raise ValueError(f"error_model = {self.error_model!r}: no such file (make one with `depth-streamer eval "
                             "... --error-model-out FILE`, or set it to \"\")")
        problem = zmq_endpoint_problem(self.anchors_endpoint)
        if problem:
            raise ValueError(f"anchors_endpoint = {self.anchors_endpoint!r}: {problem}")


SCORE_EVERY_S = 1.0  # live scoring against the truth costs ~2 ms: once a second is plenty for /stats


class AnchorFeed(Protocol):
    """Where points mode gets anchors (sources/anchors.py's AnchorReceiver)."""

    def latest(self) -> AnchorSet | None:
        """The newest set received, or None."""
        ...

    def snapshot(self) -> dict:
        """What /stats shows of the feed: its address and counters."""
        ...

    def problem(self) -> str:
        """Why the feed can deliver no more anchors (its thread ended), "" while it can."""
        ...


@dataclass(frozen=True, slots=True)
class MetricResult:
    camera: CameraModel | None  # at the depth map's resolution
    mount: Mount | None
    metric: np.ndarray | None
    anchor: AnchorFit | None  # None when metric is off
    sigma: LazySigma | None = None  # one sigma per pixel of `metric`, computed when first asked for


class MetricStage:
    """Stateful; owned by the inference worker thread like the Steadier."""

    def __init__(self, options: MetricOptions, camera: CameraOptions, *, source_camera: CameraModel | None = None,
                 source_mount: Mount | None = None, anchors: AnchorFeed | None = None,
                 network: tuple[str, int] | None = None) -> None:
        """`network`: the weights' sha256 and the network input size, which an error model must match."""
        self.options = options
        self.error_model = load_error_model(options, network)
        self._evidence: Evidence | None = None  # of the last fresh fit (a held fit is judged by it)
        self._camera_opts = camera
        self._source_camera = source_camera
        self.mount = camera.mount(source_mount)
        self._anchors = anchors
        self._cameras: dict[tuple, CameraModel | None] = {}
        self._fit: tuple[float, float] | None = None  # smoothed (scale, shift)
        self._good_wall = 0.0  # capture time of the measurement behind the last good fit
        self._rng = np.random.default_rng(0)
        self.last: AnchorFit | None = None  # for /stats (records are replaced whole: safe to read from any thread)
        self.last_camera: CameraModel | None = None
        self.truth_score: dict | None = None  # the metric map against the source's true depth (the demo knows it)
        self._next_score = 0.0
        self._fit_failed = False  # an anchors fit raised once already (its traceback is logged once)

    def camera(self, frame_shape: tuple[int, int], depth_shape: tuple[int, int]) -> CameraModel | None:
        """The camera model at the depth map's size for frames of `frame_shape`; None when unknown, or when the
        configured intrinsics cannot describe these frames (another aspect ratio: said once in the log)."""
        key = (frame_shape, depth_shape)
        if key not in self._cameras:
            problem = self._camera_opts.aspect_problem(frame_shape[1], frame_shape[0])
            if problem:
                log.error("%s: no camera model for these frames (no point clouds, no ground fit); fix [camera] "
                          "width/height", problem)
                self._cameras[key] = None
                return None
            cam = self._camera_opts.model(frame_shape[1], frame_shape[0], self._source_camera)
            self._cameras[key] = cam.scaled(depth_shape[1], depth_shape[0]) if cam is not None else None
        return self._cameras[key]

    def update(self, depth: np.ndarray, steady_status: str, frame_shape: tuple[int, int],
               capture_wall: float, truth: np.ndarray | None = None) -> MetricResult:
        """`truth`: the source's true depth (metres, frame size), scored against about once a second."""
        o = self.options
        cam = self.last_camera = self.camera(frame_shape, depth.shape)
        if o.mode == "off":
            return MetricResult(cam, self.mount, None, None)
        if steady_status == SEEDED:
            self._fit = None  # new units: a fit of the old ones would be wrong, not stale
        fresh, used, inliers, residual, wall, why, ev = self._measure(depth, cam, frame_shape, capture_wall)
        doubt = ""
        if fresh is not None and ev is not None and self._fit is not None:
            doubt = jump(self._fit, fresh, ev.cov)
        if fresh is not None:
            a = 1.0 if doubt else o.smoothing  # a jump is taken as it is and flagged, not smoothed in
            s, t = fresh if self._fit is None else (a * fresh[0] + (1 - a) * self._fit[0],
                                                     a * fresh[1] + (1 - a) * self._fit[1])
            self._fit, self._good_wall, self._evidence = (s, t), wall, ev
            anchor = AnchorFit(o.mode, True, s, t, used, inliers, residual, max(0.0, capture_wall - wall), why)
        elif self._fit is not None and capture_wall - self._good_wall <= o.hold_s:
            age = capture_wall - self._good_wall
            doubt = f"holding the fit from {age:.2f} s ago: {why}"
            anchor = AnchorFit(o.mode, True, *self._fit, used=0, inliers=0.0, age_s=age, reason=doubt)
        else:
            self._fit = self._evidence = None
            anchor = AnchorFit(o.mode, False, used=used, inliers=inliers, age_s=capture_wall - self._good_wall
                               if self._good_wall else float("inf"), reason=f"anchoring lost: {why}",
                               verdict_reason=f"anchoring lost: {why}")
        anchor, judged = self._judge(anchor, doubt)
        self.last = anchor
        metric = sigma = None
        if anchor.ok:
            metric = to_metric(depth, anchor.scale, anchor.shift, judged.range_m if judged else o.max_range_m)
            sigma = LazySigma(judged, depth, anchor.scale, anchor.shift, metric) if judged else None
        if truth is not None and metric is not None and capture_wall >= self._next_score:
            self._next_score = capture_wall + SCORE_EVERY_S
            self.truth_score = {**score(metric, depth, truth, o.max_range_m), "capture_wall": capture_wall,
                                "verdict": anchor.verdict, "expected_abs_rel": anchor.header()["expected_abs_rel"]}
        return MetricResult(cam, self.mount, metric, anchor, sigma)

    def _judge(self, anchor: AnchorFit, doubt: str) -> tuple[AnchorFit, Assessment | None]:
        """The anchor with its verdict, and the assessment behind it (None: fixed mode or lost: nothing to judge
        by). `refused` turns the fit off for this frame: no metric map."""
        o = self.options
        if not anchor.ok:
            return anchor, None
        if self._evidence is None:  # fixed: the config's scale and shift, nothing measures them
            return replace(anchor, verdict="uncertain", verdict_reason="fixed scale and shift from the config: "
                           "nothing checks them"), None
        a = assess(self._evidence, mode=o.mode, max_rel_error=o.max_rel_error, max_range_m=o.max_range_m,
                   extrapolation=o.extrapolation, model=self.error_model, jump=doubt)
        judged = replace(anchor, verdict=a.verdict, verdict_reason=a.reason, expected_abs_rel=a.expected_abs_rel,
                         evidence=a.evidence.header())
        if a.verdict == "refused":
            self._fit = None  # not smoothed into the next frames either
            judged = replace(judged, ok=False, reason=f"refused: {a.reason}")
        return judged, a

    def input_problem(self) -> str:
        """Why this stage's input is gone for good (the anchors receiver's thread ended), "" while it is fine."""
        return self._anchors.problem() if self._anchors is not None else ""

    def snapshot(self) -> dict:
        """The /stats block: mode, the last fit, the camera at the depth map's size, the mount, the live score."""
        cam, mount = self.last_camera, self.mount
        out: dict = {"mode": self.options.mode, "anchor": self.last.header() if self.last else None,
                     "intrinsics": cam.intrinsics() if cam is not None else None,
                     "mount": {"height_m": mount.height_m, "pitch_deg": mount.pitch_deg,
                               "roll_deg": mount.roll_deg} if mount is not None else None}
        if self.truth_score is not None:
            out["truth"] = self.truth_score
        if self._anchors is not None:
            out["anchors"] = self._anchors.snapshot()
        return out

    def _measure(self, depth: np.ndarray, cam: CameraModel | None, frame_shape: tuple[int, int],
                 capture_wall: float) -> tuple[tuple[float, float] | None, int, float, float, float, str,
                                               Evidence | None]:
        """(scale, shift) of this frame or None, used, inliers share, residual, measurement time, a note/reason,
        the fit's evidence (None in fixed mode)."""
        o = self.options
        if o.mode == "fixed":
            return (o.scale, o.shift), 0, 1.0, float("nan"), capture_wall, "", None
        if o.mode == "ground":
            if cam is None or self.mount is None:
                return None, 0, 0.0, float("nan"), 0.0, "ground mode needs [camera] intrinsics and height_m", None
            g = fit_ground(depth, cam, self.mount, max_range_m=o.max_range_m, tol=o.ground_tolerance,
                           min_floor=o.min_floor, rng=self._rng)
            inliers = g.floor / g.candidates if g.candidates else 0.0
            if not g.fit.ok:
                return None, g.floor, inliers, float("nan"), 0.0, g.fit.reason, None
            ev = ground_evidence(depth, g, cam, self.mount, o.max_range_m, o.ground_tolerance)
            return (g.fit.scale, g.fit.shift), g.floor, inliers, g.fit.residual, capture_wall, "", ev
        anchors = self._anchors.latest() if self._anchors is not None else None
        if self.input_problem():
            return None, 0, 0.0, float("nan"), 0.0, self.input_problem(), None
        if anchors is None:
            return None, 0, 0.0, float("nan"), 0.0, f"no anchors received on {o.anchors_endpoint}", None
        age = abs(capture_wall - anchors.capture_wall)
        if not age <= o.max_age_s:
            return None, 0, 0.0, float("nan"), 0.0, (f"newest anchors are {age:.2f} s from the frame "
                                                    f"(max_age_s {o.max_age_s:g})"), None
        try:
            p = fit_points(depth, anchors, frame_shape[1], frame_shape[0], tol=o.anchor_tolerance)
        except (ArithmeticError, ValueError) as exc:  # anchors from another process never stop the depth output
            if not self._fit_failed:
                self._fit_failed = True
                log.exception("anchors from %r could not be fitted (the frame goes out unanchored)", anchors.sender)
            return None, 0, 0.0, float("nan"), 0.0, f"the anchors could not be fitted: {type(exc).__name__}", None
        note = "; ".join(p.rejected[:3]) + (f" (+{len(p.rejected) - 3} more)" if len(p.rejected) > 3 else "")
        if not p.fit.ok:
            return None, 0, 0.0, float("nan"), 0.0, p.fit.reason, None
        note = f"{p.used} of {p.given} anchors used" + (f"; refused: {note}" if note else "")
        return ((p.fit.scale, p.fit.shift), p.used, p.used / max(p.usable, 1), p.fit.residual,
                anchors.capture_wall, note, points_evidence(depth, p, o.max_range_m))


def load_error_model(options: MetricOptions, network: tuple[str, int] | None) -> ErrorModel | None:
    """[metric] error_model, checked against the weights and network size it is about to be used with (`network`;
    None: not known here, as in tests of the stage alone: the mode is still checked). ConfigError in one line
    naming what does not match."""
    if not options.error_model:
        return None
    try:
        model = ErrorModel.load(options.error_model)
        sha, size = network if network is not None else (model.weights_sha256, model.net_size)
        model.check(weights_sha256=sha, mode=options.mode, net_size=size)
    except ErrorModelError as exc:
        raise ConfigError(f"[metric] error_model = {options.error_model!r}: {exc}") from None
    return model
