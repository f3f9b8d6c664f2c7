"""StatusBoard: the pipeline's implementation of `PipelineStatus`, built from each stage's public counters.

It is the only place that knows how the stages' states combine into "healthy", "no signal", "idle" and the /stats
document; stages ask it, the supervisor asks it, tools read its snapshot over HTTP. It reads stages only through
their public, thread-safe accessors (`source.status()`, `slot.dropped`, `worker.stats`, `publisher.counters()`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from streamer.core.redact import redact, redact_data
from streamer.core.status import Health
from streamer.pipeline.metrics import Sample

if TYPE_CHECKING:  # annotations only; none of these modules imports this one
    from streamer.core.handoff import LatestSlot
    from streamer.model import DepthModel
    from streamer.pipeline.worker import InferenceWorker
    from streamer.publish.base import Publisher
    from streamer.sources import Source


class StatusBoard:
    """Implements `streamer.core.status.PipelineStatus`. Attach the stages once they are built, then start them."""

    def __init__(self, *, source_url: str, pause_when_idle: bool, stall_s: float,
                 exposition: Callable[[], bytes] | None = None) -> None:
        self.source_url = redact(source_url)
        self._exposition = exposition  # the process's Prometheus registry, rendered
        self.pause_when_idle = pause_when_idle
        self.stall_s = stall_s
        self.started_mono = time.monotonic()
        self._source: Source | None = None
        self._slot: LatestSlot | None = None
        self._worker: InferenceWorker | None = None
        self._model: DepthModel | None = None
        self._publishers: Sequence[Publisher] = ()

    def attach(self, *, source: Source, slot: LatestSlot, worker: InferenceWorker, model: DepthModel,
               publishers: Sequence[Publisher]) -> None:
        self._source, self._slot, self._worker, self._model = source, slot, worker, model
        self._publishers = tuple(publishers)

    # -- PipelineStatus ----------------------------------------------------------------------------------------
    def audience(self) -> int:
        return sum(p.audience() for p in self._publishers)

    def idle(self) -> bool:
        return self.pause_when_idle and self.audience() == 0

    def no_signal(self) -> str | None:
        if self._source is None:
            return "starting"
        s = self._source.status()
        if s.state == "live":
            return None
        return redact(f"source {s.state}: {s.reason}" if s.reason else f"source {s.state}")

    def health(self) -> Health:
        reason = self.no_signal()
        if reason:
            return Health(False, reason)
        assert self._worker is not None
        nonfinite = self._nonfinite()
        if nonfinite:
            return Health(False, nonfinite)
        if self.idle():  # no depth frames on purpose: neither "starting" nor "stalled"
            return Health(True, "idle: inference paused until someone subscribes or watches")
        last = self._worker.stats.last_output_mono
        if last is None:
            return Health(False, "starting: no depth frame published yet")
        age = time.monotonic() - last
        if age > self.stall_s:
            return Health(False, f"stalled: no depth frame for {age:.0f} s")
        return Health(True, "ok")

    def _nonfinite(self) -> str:
        """Why the network's output is unusable right now ("" while it is fine)."""
        stats = self._worker.stats if self._worker is not None else None
        if stats is None or not stats.nonfinite_now:
            return ""
        return f"model output not finite: {stats.nonfinite} frames (NaN or inf; broken weights?)"

    def snapshot(self) -> dict[str, Any]:
        assert self._source is not None and self._worker is not None and self._slot is not None
        src = self._source.status()
        return redact_data({
            **self._worker.stats.snapshot(),
            "source": {"url": self.source_url, "state": src.state, "reason": src.reason,
                       "frames": src.frames, "decode_errors": src.decode_errors, "reconnects": src.reconnects,
                       "resolution_changes": src.resolution_changes, "width": src.width, "height": src.height,
                       "pix_fmt": src.pix_fmt},
            "fps_in": round(self._source.rate(), 2),
            "dropped": self._slot.dropped,  # captured frames the network never saw (newest-wins)
            "model": self._model.meta if self._model is not None else {},
            "publishers": {p.name: p.counters() for p in self._publishers},
            "metric": self._worker.metric.snapshot() if self._worker.metric is not None else {"mode": "off"},
        })

    def metrics(self) -> bytes:
        return self._exposition() if self._exposition is not None else b""

    def sample(self) -> Sample:
        """The stages' counters and gauges for the Prometheus collector (`streamer.pipeline.metrics`)."""
        assert self._source is not None and self._worker is not None and self._slot is not None
        src, stats = self._source.status(), self._worker.stats
        counters = {("frames_captured", ""): src.frames, ("frames_published", ""): stats.inferred.total,
                    ("frames_dropped", "inference"): self._slot.dropped, ("decode_errors", ""): src.decode_errors,
                    ("reconnects", ""): src.reconnects, ("inference_errors", ""): stats.errors,
                    ("nonfinite_frames", ""): stats.nonfinite}
        gauges = {"source_up": float(src.state == "live"), "healthy": float(self.health().ok)}
        for p in self._publishers:
            counters[("frames_dropped", p.section)] = p.dropped
            for name, count in (("http_viewers", "viewers"), ("zmq_subscribed_topics", "subscribers"),
                                ("foxglove_subscriptions", "subscriptions"), ("recording_ok", "recording_ok")):
                if hasattr(p, count):
                    gauges[name] = float(getattr(p, count)())
        gauges.update(self._metric_gauges())
        meta = self._model.meta if self._model is not None else {}
        serving = self._model.precision.serving if self._model is not None else "fp32"
        model = {"backend": str(meta.get("backend", "")), "precision": serving,
                 "weights_official": str(bool(meta.get("weights_official"))).lower()}
        return Sample({k: float(v) for k, v in counters.items()}, gauges, model)

    def _metric_gauges(self) -> dict[str, float]:
        stage = self._worker.metric if self._worker is not None else None
        fit = stage.last if stage is not None and stage.options.mode != "off" else None
        if fit is None:
            return {}
        gauges = {"metric_anchored": float(fit.ok), "metric_fit_used": float(fit.used),
                  "metric_fit_inliers": fit.inliers, "metric_fit_age_seconds": fit.age_s}
        if fit.ok and fit.residual == fit.residual:
            gauges["metric_fit_residual"] = fit.residual
        truth = stage.truth_score if stage is not None else None
        if truth and truth.get("ratio") is not None:
            gauges["metric_abs_rel"], gauges["metric_oracle_abs_rel"] = truth["abs_rel"], truth["oracle_abs_rel"]
        return gauges

    def _metric_line(self) -> str:
        stage = self._worker.metric if self._worker is not None else None
        fit = stage.last if stage is not None and stage.options.mode != "off" else None
        if fit is None:
            return ""
        if not fit.ok:
            return f"; metric {fit.mode}: {fit.reason}"
        held = f", held {fit.age_s:.1f} s" if fit.reason.startswith("holding") else ""
        return f"; metric {fit.mode}: {fit.used} used, residual {fit.header()['residual'] or 0:.1%}{held}"

    # -- for the supervisor ------------------------------------------------------------------------------------
    def serving(self) -> bool:
        """Up end to end (the network is warm by now): a depth frame was published; or frames reach the network and
        are skipped only because nobody watches; or the camera is down and we say so on every channel while the
        source retries. Without the last two, systemd would never see READY=1 and would kill and restart a daemon
        that is doing exactly its job (TimeoutStartSec), fighting the source's own reconnect backoff."""
        assert self._source is not None and self._worker is not None
        stats = self._worker.stats
        return (stats.last_output_mono is not None or (self.idle() and stats.skipped_idle > 0)
                or self._source.status().state == "offline" or stats.nonfinite > 0)

    def progressing(self) -> Health:
        """Whether the watchdog should be pinged: frames advance, or the source is offline and retrying."""
        assert self._source is not None and self._worker is not None
        if not self._worker.running:
            return Health(False, "inference worker died")
        src = self._source.status()
        if src.state != "live":
            return Health(self._source.running or src.state == "ended", f"source {src.state}")
        now = time.monotonic()
        if self.idle():
            return Health(src.last_frame_mono is not None and now - src.last_frame_mono < self.stall_s, "idle")
        stats = self._worker.stats
        # Non-finite output is reported on every channel; the pipeline runs (restarting would not mend weights).
        reference = max(t for t in (stats.last_output_mono, stats.last_nonfinite_mono, self.started_mono)
                        if t is not None)
        return Health(now - reference < self.stall_s, "live")

    def line(self) -> str:
        """One status line for sd_notify STATUS= and the terminal."""
        assert self._worker is not None and self._slot is not None and self._source is not None
        snap = self._worker.stats.snapshot()
        src = self._source.status()
        lat = snap["latency_ms"]["p50"]
        state = "live" if src.state == "live" else f"{src.state}: {src.reason}"
        nonfinite = self._nonfinite()
        return redact(f"{state}; {snap['fps_out']:.1f} fps; latency p50 {lat if lat is not None else '-'} ms; "
                      f"dropped {self._slot.dropped}; {self._precision()}" + (f"; {nonfinite}" if nonfinite else "")
                      + self._metric_line())

    def _precision(self) -> str:
        if self._model is None:
            return "fp32"
        state = self._model.precision
        if state.pending:
            return f"{state.serving} (choosing or re-checking a precision on live frames)"
        error = state.error
        return f"{state.serving} (NMAE {error['nmae'] * 100:.2f} % vs fp32)" if error else state.serving
