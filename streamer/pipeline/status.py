"""StatusBoard: the pipeline's implementation of `PipelineStatus`, and the only reader of the stages' state.

It is built with the stages in hand and is the only place that knows how their states combine into "healthy",
"no signal", "idle", "ended", the /stats document and the Prometheus sample; stages ask it, the supervisor asks it
(never a stage), tools read its snapshot over HTTP. It reads stages only through their public, thread-safe accessors
(`source.status()`, `slot.dropped`, the worker's `PipelineStats`, `publisher.counters()` and each publisher's own
gauge), never their internals.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamer.core.redact import redact, redact_data
from streamer.core.stats import PipelineStats
from streamer.core.status import Health
from streamer.pipeline.metrics import Counters, Gauges, ModelInfo, Sample

if TYPE_CHECKING:  # annotations only; none of these modules imports this one
    from streamer.core.handoff import LatestSlot
    from streamer.model import DepthModel
    from streamer.publish.base import Publisher
    from streamer.publish.foxglove import FoxglovePublisher
    from streamer.publish.http.publisher import HttpPublisher
    from streamer.publish.imagezmq_publisher import ImageZmqPublisher
    from streamer.publish.zmq_publisher import ZmqPublisher
    from streamer.record.feed import RecordFeed
    from streamer.record.recorder import Recorder
    from streamer.sources import Source
    from streamer.steady import MetricStage


@dataclass(frozen=True)
class Publishers:
    """A pipeline's publishers by role (the board reads each one's own gauge); `all` in hand-off order."""

    zmq: ZmqPublisher
    http: HttpPublisher
    imagezmq: ImageZmqPublisher | None = None
    foxglove: FoxglovePublisher | None = None
    recorder: Recorder | RecordFeed | None = None  # several streams: this stream's feed of the one recorder

    @property
    def all(self) -> tuple[Publisher, ...]:
        return tuple(p for p in (self.zmq, self.http, self.imagezmq, self.foxglove, self.recorder) if p is not None)


class StatusBoard:
    """Implements `streamer.core.status.PipelineStatus` over a pipeline's stages. The inference worker writes `stats`
    (built before it, so the board can be built before the worker that consults it)."""

    def __init__(self, *, source: Source, slot: LatestSlot, stats: PipelineStats, model: DepthModel,
                 publishers: Publishers, metric: MetricStage | None, source_url: str, pause_when_idle: bool,
                 stall_s: float, exposition: Callable[[], bytes] | None = None) -> None:
        self._source, self._slot, self._stats, self._model = source, slot, stats, model
        self._publishers, self._metric = publishers, metric
        self.source_url = redact(source_url)
        self._exposition = exposition  # the process's Prometheus registry, rendered
        self.pause_when_idle = pause_when_idle
        self.stall_s = stall_s
        self.started_mono = time.monotonic()

    # -- PipelineStatus ----------------------------------------------------------------------------------------
    def audience(self) -> int:
        return sum(p.audience() for p in self._publishers.all)

    def idle(self) -> bool:
        return self.pause_when_idle and self.audience() == 0

    def scaled_input(self, width: int, height: int) -> tuple[int, int] | None:
        return self._model.scaled_input(width, height)

    def no_signal(self) -> str | None:
        s = self._source.status()
        if s.state == "live":
            return None
        return redact(f"source {s.state}: {s.reason}" if s.reason else f"source {s.state}")

    def health(self) -> Health:
        ended = self.finished()
        if ended is not None:  # a file's end is not a fault: its stream is done, not down
            return Health(True, f"ended: {ended}")
        reason = self.no_signal()
        if reason:
            return Health(False, reason)
        nonfinite = self._nonfinite()
        if nonfinite:
            return Health(False, nonfinite)
        dead = self._dead_input()
        if dead:
            return Health(False, dead)
        if self.idle():  # no depth frames on purpose: neither "starting" nor "stalled"
            return Health(True, "idle: inference paused until someone subscribes or watches")
        last = self._stats.last_output_mono
        if last is None:
            return Health(False, "starting: no depth frame published yet")
        age = time.monotonic() - last
        if age > self.stall_s:
            return Health(False, f"stalled: no depth frame for {age:.0f} s")
        return Health(True, "ok")

    def _nonfinite(self) -> str:
        """Why the network's output is unusable right now ("" while it is fine)."""
        if not self._stats.nonfinite_now:
            return ""
        return f"model output not finite: {self._stats.nonfinite} frames (NaN or inf; broken weights?)"

    def _dead_input(self) -> str:
        """Why a thread that must run is gone for good ("" while all run): the source's capture thread, the anchors
        receiver, a publisher's (the recorder's, Foxglove's ...). Never healthy then."""
        src = self._source.status()
        if self._source.started and not self._source.running and src.state in ("live", "offline", "starting"):
            return f"the {self._source.kind} source's capture thread ended unexpectedly"
        dead = [p.name for p in self._publishers.all if p.dead()]
        if dead:
            return f"publisher thread ended unexpectedly: {', '.join(dead)}"
        return self._metric.input_problem() if self._metric is not None else ""

    def snapshot(self) -> dict[str, Any]:
        src = self._source.status()
        return redact_data({
            **self._stats.snapshot(),
            "source": {"url": self.source_url, "state": src.state, "reason": src.reason,
                       "frames": src.frames, "decode_errors": src.decode_errors, "reconnects": src.reconnects,
                       "resolution_changes": src.resolution_changes, "width": src.width, "height": src.height,
                       "pix_fmt": src.pix_fmt, "last_error": src.last_error},
            "fps_in": round(self._source.rate(), 2),
            "dropped": self._slot.dropped,  # captured frames the network never saw (newest-wins)
            "model": self._model.meta,
            "publishers": {p.name: p.counters() for p in self._publishers.all},
            "metric": self._metric.snapshot() if self._metric is not None else {"mode": "off"},
        })

    def metrics(self) -> bytes:
        return self._exposition() if self._exposition is not None else b""

    def sample(self) -> Sample:
        """The stages' counters and gauges for the Prometheus collector (`streamer.pipeline.metrics`)."""
        src, stats, p = self._source.status(), self._stats, self._publishers
        counters = Counters(frames_captured=src.frames, frames_published=stats.inferred.total,
                            frames_dropped=(("inference", self._slot.dropped),
                                            *((x.section, x.dropped) for x in p.all)),
                            decode_errors=src.decode_errors, reconnects=src.reconnects,
                            inference_errors=stats.errors, nonfinite_frames=stats.nonfinite)
        gauges = Gauges(source_up=src.state == "live", healthy=self.health().ok, http_viewers=p.http.viewers(),
                        zmq_subscribed_topics=p.zmq.subscribers(),
                        foxglove_subscriptions=p.foxglove.subscriptions() if p.foxglove is not None else None,
                        recording_ok=p.recorder.recording_ok() if p.recorder is not None else None,
                        **self._metric_gauges())
        meta = self._model.meta
        model = ModelInfo(str(meta.get("backend", "")), self._model.precision.serving,
                          bool(meta.get("weights_official")))
        return Sample(counters, gauges, model)

    def _metric_gauges(self) -> dict[str, Any]:
        """The metric stage's Gauges fields (none while [metric] mode is off or before its first fit)."""
        stage = self._metric
        fit = stage.last if stage is not None and stage.options.mode != "off" else None
        if stage is None or fit is None:
            return {}
        gauges: dict[str, Any] = {"metric_anchored": fit.ok, "metric_fit_used": fit.used,
                                  "metric_fit_inliers": fit.inliers, "metric_fit_age_seconds": fit.age_s}
        if fit.ok and fit.residual == fit.residual:
            gauges["metric_fit_residual"] = fit.residual
        if fit.expected_abs_rel == fit.expected_abs_rel:
            gauges["metric_expected_abs_rel"] = fit.expected_abs_rel
        gauges["metric_verdict"] = (fit.mode, fit.verdict)
        truth = stage.truth_score
        if truth and truth.get("ratio") is not None:
            gauges["metric_abs_rel"], gauges["metric_oracle_abs_rel"] = truth["abs_rel"], truth["oracle_abs_rel"]
        return gauges

    def _metric_line(self) -> str:
        stage = self._metric
        fit = stage.last if stage is not None and stage.options.mode != "off" else None
        if fit is None:
            return ""
        if not fit.ok:
            return f"; metric {fit.mode}: {fit.reason}"
        held = f", held {fit.age_s:.1f} s" if fit.reason.startswith("holding") else ""
        expected = fit.header()["expected_abs_rel"]
        worth = f", {fit.verdict}" + (f" (expected AbsRel {expected:.2f})" if expected is not None else "")
        return f"; metric {fit.mode}: {fit.used} used, residual {fit.header()['residual'] or 0:.1%}{held}{worth}"

    # -- for the supervisor ------------------------------------------------------------------------------------
    def serving(self) -> bool:
        """Up end to end (the network is warm by now): a depth frame was published; or frames reach the network and
        are skipped only because nobody watches; or the camera is down and we say so on every channel while the
        source retries. Without the last two, systemd would never see READY=1 and would kill and restart a daemon
        that is doing exactly its job (TimeoutStartSec), fighting the source's own reconnect backoff."""
        stats = self._stats
        return (stats.last_output_mono is not None or (self.idle() and stats.skipped_idle > 0)
                or self._source.status().state == "offline" or stats.nonfinite > 0)

    def ready_reason(self) -> str:
        """Why `serving()` holds, in words, for the log line that says READY."""
        if self._stats.last_output_mono is not None:
            return "first depth frame published"
        if self.idle():
            return "idle, inference paused until someone subscribes or watches"
        return f"serving, camera offline: {self._source.status().reason}"

    def worker_alive(self) -> bool:
        """The inference worker's thread runs (False before start, after stop, and if it died)."""
        return self._stats.running

    def source_failed(self) -> str | None:
        """Why the source can never deliver (a file that cannot be decoded), or None while it can."""
        src = self._source.status()
        return src.reason if src.state == "failed" else None

    def ended(self) -> str | None:
        """Why the source ended for good (a non-looping file's end) once its capture thread is done, else None."""
        src = self._source.status()
        return (src.reason or "end of file") if src.state == "ended" and not self._source.running else None

    def finished(self) -> str | None:
        """Why the source reached its end for good (a non-looping file), as soon as it says so, else None: finished,
        not faulty (with several streams, the others serve on)."""
        src = self._source.status()
        return redact(src.reason or "end of file") if src.state == "ended" else None

    def frames_out(self) -> int:
        """Depth frames published so far."""
        return self._stats.inferred.total

    def progressing(self) -> Health:
        """Whether the watchdog should be pinged: frames advance, or the source is offline and retrying."""
        if not self._stats.running:
            return Health(False, "inference worker died")
        if self._dead_input():
            return Health(False, self._dead_input())
        src = self._source.status()
        if src.state != "live":
            return Health(self._source.running or src.state == "ended", f"source {src.state}")
        now = time.monotonic()
        if self.idle():
            return Health(src.last_frame_mono is not None and now - src.last_frame_mono < self.stall_s, "idle")
        stats = self._stats
        # Non-finite output is reported on every channel; the pipeline runs (restarting would not mend weights).
        reference = max(t for t in (stats.last_output_mono, stats.last_nonfinite_mono, self.started_mono)
                        if t is not None)
        return Health(now - reference < self.stall_s, "live")

    def line(self) -> str:
        """One status line for sd_notify STATUS= and the terminal."""
        snap = self._stats.snapshot()
        src = self._source.status()
        lat = snap["latency_ms"]["p50"]
        state = "live" if src.state == "live" else f"{src.state}: {src.reason}"
        nonfinite = self._nonfinite()
        return redact(f"{state}; {snap['fps_out']:.1f} fps; latency p50 {lat if lat is not None else '-'} ms; "
                      f"dropped {self._slot.dropped}; {self.precision_line()}" + (f"; {nonfinite}" if nonfinite else "")
                      + self._metric_line())

    def precision_line(self) -> str:
        """The network's precision in words (shared by every stream: the overview's line says it once)."""
        state = self._model.precision
        if state.pending:
            return f"{state.serving} (choosing or re-checking a precision on live frames)"
        error = state.error
        return f"{state.serving} (NMAE {error['nmae'] * 100:.2f} % vs fp32)" if error else state.serving
