"""What the daemon and the CLI call: pick the precision once real frames are in, re-check it on live frames.

    manager = PrecisionManager(options, fp32_backend)        # model.backend while the daemon publishes fp32
    if manager.wants_frames:
        collector = manager.collector()                      # feed it frames: collector.offer(bgr, t)
        ...                                                  # once collector.done, in a background thread:
        choice = manager.select(collector.frame_set(options.gate_frames))
        model.use_backend(choice.backend, choice.precision, choice.result)     # log choice.reason
    ...every few minutes, off the hot path, with a few recent live frames:
    if manager.recheck_due():
        changed = manager.recheck(recent_frames)             # None: still passes; else fell back (log .reason)
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import numpy as np

from streamer.model.precision.calibration import FrameCollector, FrameSet, load_frame_set, network_inputs
from streamer.model.precision.cpu import CpuFeatures, detect
from streamer.model.precision.gate import Thresholds
from streamer.model.precision.choose import FALLBACK, Choice, build_candidate, choose, resolve_precision
from streamer.model.preprocess import Preprocessor

log = logging.getLogger(__name__)


def thresholds_from(options) -> Thresholds:
    return Thresholds(options.max_nmae, options.max_frame_nmae, options.min_corr)


class PrecisionManager:
    def __init__(self, options, fp32_backend, cpu: CpuFeatures | None = None, build=build_candidate) -> None:
        """`build(precision, fp32_backend, frames, threads, engine)` makes a candidate backend (tests pass fakes)."""
        self.options = options
        self._build = build
        self.fp32 = fp32_backend
        self.cpu = cpu or detect()
        if getattr(fp32_backend, "name", "") != "onnxruntime":
            self.tries, self.notes = [], [f"low precision runs from the ONNX export; backend "
                                          f"{getattr(fp32_backend, 'name', '?')} stays fp32"]
        else:
            self.tries, self.notes = resolve_precision(options.precision, self.cpu, options.precision_engine)
        self.choice = Choice("fp32", fp32_backend, [], "precision fp32 (" + ("; ".join(self.notes) or
                                                                           "low precisions not built yet") + ")")
        self.frames: FrameSet | None = None
        self.size: tuple[int, int] | None = None
        self.checked_at: float | None = None
        self._built: dict[str, object] = {}

    @property
    def wants_frames(self) -> bool:
        return bool(self.tries)

    def collector(self) -> FrameCollector:
        o = self.options
        return FrameCollector(o.calibration_frames + o.gate_frames, o.calibration_seconds)

    def _builder(self, precision: str):
        def build():
            if precision not in self._built:
                self._built[precision] = self._build(precision, self.fp32, self.frames, self.options.threads,
                                                         self.options.precision_engine)
            return self._built[precision]
        return build

    def select(self, frames: FrameSet, size: tuple[int, int] | None = None, now: float | None = None) -> Choice:
        """Build and gate the candidates on `frames` (network input `size` (h, w): default, the frames' own)."""
        self.frames = frames
        if size is None:
            h, w = frames.held_out[0].shape[:2]
            net_w, net_h = Preprocessor(self.options.net_size).size_for(w, h)
            size = (net_h, net_w)
        self.size = size
        held = network_inputs(frames.held_out, *size)
        self.choice = choose(self.fp32, {p: self._builder(p) for p in self.tries}, held, thresholds_from(self.options),
                             self.options.precision, [*self.notes, frames.describe()])
        self.checked_at = time.monotonic() if now is None else now
        log.info("%s", self.choice.reason)
        return self.choice

    def release_unused(self) -> None:
        """Drop the candidates that lost (each holds a compiled network): a later fall-back rebuilds what it needs."""
        self._built = {p: b for p, b in self._built.items() if p == self.choice.precision}

    def recheck_due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (self.choice.precision != "fp32" and self.options.recheck_s > 0 and self.checked_at is not None
                and now - self.checked_at >= self.options.recheck_s)

    def recheck(self, live_frames: Sequence[np.ndarray], now: float | None = None) -> Choice | None:
        """Gate the serving precision on live BGR frames; on failure fall back (None when nothing changed)."""
        self.checked_at = time.monotonic() if now is None else now
        current = self.choice.precision
        if current == "fp32" or not live_frames:
            return None
        h, w = live_frames[0].shape[:2]
        net_w, net_h = Preprocessor(self.options.net_size).size_for(w, h)
        inputs = network_inputs(live_frames, net_h, net_w)
        lower = [p for p in FALLBACK[FALLBACK.index(current) + 1:] if p in self.tries]
        candidates = {current: self.choice.backend, **{p: self._builder(p) for p in lower}}
        # Explicit order from the serving precision down: keep it while it passes, else the next that passes.
        choice = choose(self.fp32, candidates, inputs, thresholds_from(self.options), current,
                        [f"re-check on {len(inputs)} live frames"])
        if choice.precision == current:
            self.choice = Choice(current, self.choice.backend, choice.results, self.choice.reason)
            log.debug("%s", choice.reason)
            return None
        choice.reason = f"{current} no longer passes on live frames, now {choice.precision}: {choice.reason}"
        log.warning("%s", choice.reason)
        self.choice = choice
        return choice

    def meta(self) -> dict:
        r = self.choice.result
        return {"precision": self.choice.precision, "precision_reason": self.choice.reason,
                **({"precision_error": r.as_dict()} if r else {})}


def apply_precision(model, options, calibration: str | None, images: Sequence = ()) -> Choice:
    """Offline (infer): calibrate and gate on a video or image folder, then switch `model` to the choice.

    The gate runs at the network size of the first readable of `images` (the size infer will use), else at the
    calibration frames' own size."""
    manager = PrecisionManager(options, model.backend)
    if not manager.wants_frames:
        return manager.choice
    if not calibration:
        reason = f"precision fp32 ({options.precision} needs real frames: pass --calibration VIDEO_OR_DIR)"
        log.warning("%s", reason)
        return Choice("fp32", model.backend, [], reason)
    frames = load_frame_set(calibration, options.calibration_frames, options.gate_frames)
    size = None
    for path in images:
        first = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if first is not None:
            net_w, net_h = Preprocessor(options.net_size).size_for(first.shape[1], first.shape[0])
            size = (net_h, net_w)
            break
    choice = manager.select(frames, size)
    model.use_backend(choice.backend, choice.precision, choice.result)
    return choice
