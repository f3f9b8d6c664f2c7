"""PrecisionStage: picks the network's precision from the running source's own frames, off the hot path, and
re-checks it on live frames every few minutes.

It works like this: the daemon starts in fp32 and publishes at once. The inference worker offers each frame it took
(`offer`, the hot path: a time check and, a few dozen times, a copy); frames spread over the source's first
`calibration_seconds` are kept, split into calibration and held-out sets. This stage's thread then builds the
candidates (int8 calibrated on the first set; bf16), gates each against fp32 on the held-out set, and switches the
model to the fastest that passes - one attribute store, so an inference in flight finishes on the old backend.
Every `recheck_s` it gates the serving precision again on recent live frames and falls back when the scene has
moved the error past the threshold. Every decision, with its measured error, is in the log, /stats, the ZeroMQ
headers and status, /metrics and sd_notify STATUS (through `DepthModel.meta`).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from streamer.core.frame import CapturedFrame
from streamer.model import DepthModel, ModelOptions
from streamer.model.precision.manager import PrecisionManager

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often the stage's thread looks for work: decisions are not time-critical


class PrecisionStage:
    def __init__(self, model: DepthModel, options: ModelOptions) -> None:
        self.model = model
        self.options = options
        self.manager = PrecisionManager(options, model.fp32_backend)
        self._collector = self.manager.collector() if self.manager.wants_frames else None
        self._recent: deque = deque(maxlen=options.gate_frames)  # live frames for the re-check, spread over time
        self._recent_every = max(options.recheck_s, 1.0) / max(options.gate_frames, 1)
        self._recent_due = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        model.precision_pending = self._collector is not None
        model.precision_reason = self.manager.choice.reason
        if self._collector is None:
            log.info("%s", self.manager.choice.reason)

    # -- hot path (inference worker) -----------------------------------------------------------------------------
    def offer(self, frame: CapturedFrame) -> None:
        collector = self._collector
        if collector is not None and not collector.done:
            collector.offer(frame.image, frame.capture_mono)
        elif self.model.precision != "fp32" and frame.capture_mono >= self._recent_due:
            self._recent.append(frame.image)  # the worker never writes into a captured image: no copy needed
            self._recent_due = frame.capture_mono + self._recent_every

    # -- the stage's own thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._collector is None:
            return  # fp32 asked for, or nothing this CPU can run natively: nothing to decide
        self._thread = threading.Thread(target=self._run, name="precision", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)  # a build in progress finishes in the background; it is a daemon thread

    def _run(self) -> None:
        collector = self._collector
        assert collector is not None
        while not self._stop.wait(POLL_S):
            if self.model.precision_pending:
                if collector.done:
                    self._select()
                continue
            if self.manager.recheck_due() and len(self._recent) >= 2:
                self._recheck()

    def _select(self) -> None:
        t0 = time.monotonic()
        try:
            choice = self.manager.select(self._collector.frame_set(self.options.gate_frames))
        except Exception as exc:  # a failed build must never take the daemon down: fp32 is always right
            log.exception("building a low precision failed; staying at fp32")
            self.model.precision_reason = f"precision fp32 (building a low precision failed: {exc})"
        else:
            self.model.use_backend(choice.backend, choice.precision, choice.result)
            self.model.precision_reason = choice.reason
            self.manager.release_unused()
            log.info("precision decided in %.0f s: %s", time.monotonic() - t0, choice.reason)
        finally:
            self.model.precision_pending = False
            self._collector = None  # the frames are not needed any more

    def _recheck(self) -> None:
        try:
            changed = self.manager.recheck(list(self._recent))
        except Exception:
            log.exception("re-checking the precision failed; keeping %s", self.model.precision)
            return
        if changed is not None:
            self.model.use_backend(changed.backend, changed.precision, changed.result)
            self.model.precision_reason = changed.reason
        elif self.manager.choice.result is not None:
            self.model.precision_error = self.manager.choice.result.as_dict()  # the newest measurement
