"""The inference worker: newest captured frame -> network -> steady depth -> every publisher.

It works like this: the source overwrites a one-slot mailbox with each decoded frame. The network scheduler's
"inference" thread (`scheduler.py`, one for every stream of the daemon) takes whatever is newest (so it never falls
behind a camera faster than the network: older frames are dropped and counted by the slot) and hands it to the network
on a small pool; this worker's "steady" thread takes its stream's results in capture order, steadies them, fits metric
depth and hands the DepthFrame to every publisher's own non-blocking `publish`, so none of them can stall inference.
Each stream has its own worker: its steadier, metric stage, counters and flight are never another stream's.

How many frames are in the network at once is the serving backend's `streams`: 1 (one request at a time, the
lowest latency: cameras) or more (an OpenVINO throughput layout, chosen for lossless files). Either way the next
frame enters the network while the one before is being steadied and published (a core would otherwise wait through
those single-threaded steps). Order never changes: the steady thread waits for the oldest frame's result before it
looks at the next one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol

import numpy as np

from streamer.core.finite import require_finite
from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.stats import PipelineStats
from streamer.core.status import PipelineStatus
from streamer.errors import NonFiniteOutput
from streamer.model import DepthModel
from streamer.pipeline.metrics import FrameMetrics
from streamer.pipeline.scheduler import FrameTap, NetworkScheduler
from streamer.steady import MetricStage, Steadier

log = logging.getLogger(__name__)


class Output(Protocol):
    def publish(self, frame: DepthFrame) -> None: ...


class InferenceWorker:
    """One stream's side of the network: its inbox, its frames in flight and its "steady" thread. `network`: the
    scheduler every stream of the daemon shares; None: a private one (one stream, `infer VIDEO`, tests), which this
    worker starts and stops. `max_fps`: at most this many of its frames a second go into the network (0: all)."""

    def __init__(self, model: DepthModel, steadier: Steadier, inbox: LatestSlot[CapturedFrame],
                 outputs: Sequence[Output], stats: PipelineStats | None = None,
                 status: PipelineStatus | None = None, metrics: FrameMetrics | None = None,
                 tap: FrameTap | None = None, metric: MetricStage | None = None, *,
                 network: NetworkScheduler | None = None, max_fps: float = 0.0, name: str = "steady") -> None:
        self.model = model
        self.steadier = steadier
        self.inbox = inbox
        self.outputs = list(outputs)
        self.stats = stats or PipelineStats()
        # With a status, inference pauses while it says idle (pause_when_idle and nobody subscribed or watching).
        self.status = status
        self.metrics = metrics  # Prometheus histograms: inference time, capture -> publish latency
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.metric = metric  # metric depth from the steadied map (None: relative only, as before)
        self._own = network is None
        self.network = network if network is not None else NetworkScheduler(model, tap)
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._due = 0.0  # monotonic time from which the next frame may go (max_fps)
        self.name = name
        # Frames taken and not yet steadied, oldest first, each with its network result to come.
        self._flight: deque[tuple[CapturedFrame, Future]] = deque()
        self._cond = threading.Condition()

    @property
    def busy(self) -> bool:
        """Frames taken and not yet published: lets the supervisor drain the last frames of a file before exiting."""
        return bool(self._flight)

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._run, name=self.name, daemon=True)]
        self.stats.running = True
        for thread in self._threads:
            thread.start()
        if self._own:
            self.network.start()
        self.network.add(self)

    def stop(self, timeout: float = 2.0) -> None:
        self.network.remove(self)
        self._stop.set()
        self.inbox.close()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._own:
            self.network.stop(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads) and self.network.alive

    def _run(self) -> None:
        try:
            self._finish()
        finally:
            self.halt()

    # -- the scheduler's side (its "inference" thread and the network pool) -----------------------------------------
    def halt(self) -> None:
        """The steady thread or the shared network thread is gone: the status board says "inference worker died"."""
        self.stats.running = False
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def due_in(self, now: float) -> float:
        return self._due - now

    def room(self, streams: int) -> bool:
        """Fewer of this stream's frames in the network than the backend runs at once, and at most one more waiting
        to be steadied: the next frame's network run overlaps the previous frame's steadying and publishing."""
        with self._cond:
            in_network = sum(not future.done() for _, future in self._flight)
            return in_network < streams and len(self._flight) <= streams

    def take(self, now: float) -> CapturedFrame | None:
        """The waiting frame, or None (none, or skipped: nobody watches)."""
        frame = self.inbox.get(timeout=0.0)
        if frame is None:
            return None
        if self.status is not None and self.status.idle():
            self.stats.skipped_idle += 1  # the next frame after someone arrives is processed: resume < 1 frame
            return None
        if self._interval:  # on the grid while on time or a little late (the rate holds), else a new grid from now
            late = now - self._due
            self._due = (self._due if late < self._interval else now) + self._interval
        return frame

    def admit(self, frame: CapturedFrame, future: Future) -> None:
        with self._cond:
            self._flight.append((frame, future))
            self._cond.notify_all()
        future.add_done_callback(self._wake)  # out of the network: its result may be steadied

    def _wake(self, _future: Future) -> None:
        with self._cond:
            self._cond.notify_all()

    def infer(self, frame: CapturedFrame) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        raw = self.model.predict_frame(frame)
        return raw, (time.perf_counter() - t0) * 1e3

    # -- the "steady" thread: results in capture order -> steady -> metric -> publishers ---------------------------
    def _finish(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._flight and not self._stop.is_set():
                    self._cond.wait(0.25)
                if not self._flight:
                    continue
                frame, future = self._flight[0]
            try:
                result = self._steady(frame, *future.result())
            except NonFiniteOutput as exc:  # garbage in every pixel: publish nothing, say so on every channel
                self.stats.record_nonfinite(time.monotonic())
                if self.stats.nonfinite in (1, 10) or self.stats.nonfinite % 1000 == 0:
                    log.error("%s (%d frames so far); nothing is published while it lasts", exc,
                              self.stats.nonfinite)
                result = None
            except Exception as exc:  # one bad frame must not end the stream; the count and message are in stats
                if self._stop.is_set():
                    break  # stopping: the pool cancelled what was still in flight
                self.stats.record_error(f"{type(exc).__name__}: {exc}")
                log.exception("inference failed on frame %d", frame.seq)
                time.sleep(0.05)  # a persistent failure must not spin a core
                result = None
            if result is not None:
                for output in self.outputs:
                    output.publish(result)
                if self.metrics is not None:
                    self.metrics.frame(result.infer_ms / 1e3, time.monotonic() - frame.capture_mono)
            with self._cond:  # published (or refused): the frame leaves the flight, and `busy` says so
                self._flight.popleft()
                self._cond.notify_all()
            self.network.wake()  # room in this stream's flight

    def process(self, frame: CapturedFrame) -> DepthFrame:
        """One frame through the network and the steady stage, on the caller's thread (`infer VIDEO`)."""
        return self._steady(frame, *self.infer(frame))

    def _steady(self, frame: CapturedFrame, raw: np.ndarray, infer_ms: float) -> DepthFrame:
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
                          metric=m.metric if m else None, anchor=m.anchor if m else None,
                          sigma=m.sigma if m else None)
