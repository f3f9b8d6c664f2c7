"""The inference worker: newest captured frame -> network -> steady depth -> every publisher.

It works like this: the source overwrites a one-slot mailbox with each decoded frame; this thread takes whatever
is newest, so it never falls behind a camera faster than the network (older frames are dropped and counted by the
slot). Publishers get the result through their own non-blocking `publish`, so none of them can stall inference.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from streamer.core.finite import require_finite
from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.stats import PipelineStats
from streamer.core.status import PipelineStatus
from streamer.errors import NonFiniteOutput
from streamer.model import DepthModel
from streamer.pipeline.metrics import FrameMetrics
from streamer.steady import MetricStage, Steadier

log = logging.getLogger(__name__)


class Output(Protocol):
    def publish(self, frame: DepthFrame) -> None: ...


class FrameTap(Protocol):
    """Sees each frame the worker takes, on the hot path, and must return at once (the precision stage)."""

    def offer(self, frame: CapturedFrame) -> None: ...


class InferenceWorker:
    def __init__(self, model: DepthModel, steadier: Steadier, inbox: LatestSlot[CapturedFrame],
                 outputs: Sequence[Output], stats: PipelineStats | None = None,
                 status: PipelineStatus | None = None, metrics: FrameMetrics | None = None,
                 tap: FrameTap | None = None, metric: MetricStage | None = None) -> None:
        self.model = model
        self.steadier = steadier
        self.inbox = inbox
        self.outputs = list(outputs)
        self.stats = stats or PipelineStats()
        # With a status, inference pauses while it says idle (pause_when_idle and nobody subscribed or watching).
        self.status = status
        self.metrics = metrics  # Prometheus histograms: inference time, capture -> publish latency
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tap = tap
        self.metric = metric  # metric depth from the steadied map (None: relative only, as before)
        self.busy = False  # inside process(): lets the supervisor drain the last frame of a file before exiting

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self.stats.running = True
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.inbox.close()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.stats.running = False  # the status board says "inference worker died" from now on

    def _loop(self) -> None:
        while not self._stop.is_set():
            frame = self.inbox.get(timeout=0.25)
            if frame is None:
                continue
            if self.status is not None and self.status.idle():
                self.stats.skipped_idle += 1  # the next frame after someone arrives is processed: resume < 1 frame
                continue
            self.busy = True
            if self.tap is not None:
                self.tap.offer(frame)
            try:
                result = self.process(frame)
            except NonFiniteOutput as exc:  # garbage in every pixel: publish nothing, say so on every channel
                self.stats.record_nonfinite(time.monotonic())
                if self.stats.nonfinite in (1, 10) or self.stats.nonfinite % 1000 == 0:
                    log.error("%s (%d frames so far); nothing is published while it lasts", exc,
                              self.stats.nonfinite)
                continue
            except Exception as exc:  # one bad frame must not end the stream; the count and message are in stats
                self.stats.record_error(f"{type(exc).__name__}: {exc}")
                log.exception("inference failed on frame %d", frame.seq)
                time.sleep(0.05)  # a persistent failure must not spin a core
                continue
            finally:
                self.busy = False
            for output in self.outputs:
                output.publish(result)
            if self.metrics is not None:
                self.metrics.frame(result.infer_ms / 1e3, time.monotonic() - frame.capture_mono)

    def process(self, frame: CapturedFrame) -> DepthFrame:
        t0 = time.perf_counter()
        raw = self.model.predict_frame(frame)
        infer_ms = (time.perf_counter() - t0) * 1e3
        require_finite(raw, f"frame {frame.seq}")  # ~15 us; NaN weights would otherwise publish NaN depth as "ok"
        steady = self.steadier.update(raw)
        m = None
        if self.metric is not None:
            m = self.metric.update(steady.depth, steady.status, frame.shape, frame.capture_wall, frame.truth_depth)
        done = time.monotonic()
        self.stats.record(frame.seq, frame.capture_mono, infer_ms, done)
        return DepthFrame(captured=frame, raw=raw, depth=steady.depth, depth_range=steady.depth_range,
                          align=steady.align, infer_ms=infer_ms, done_mono=done,
                          meta={**self.model.meta, "steady": steady.status,
                                "motion": round(steady.motion_fraction, 3)},  # per frame: the precision may switch
                          camera=m.camera if m else None, mount=m.mount if m else None,
                          metric=m.metric if m else None, anchor=m.anchor if m else None)
