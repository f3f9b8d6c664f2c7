"""Prometheus metrics: one registry per daemon process, so counters outlive the Pipeline that SIGHUP replaces.

It works like this: counters are not incremented on the hot path at all. The stages already count (the source's
frames, decode errors and reconnects; the slots' drops; the worker's outputs); at scrape time the collector reads
them from the current pipeline's StatusBoard (`sample()`) and adds what earlier pipelines had counted when they were
replaced (`attach` folds the outgoing board's final totals in). So a counter never goes back: not when the source
reconnects (its own counts keep running) and not on SIGHUP (a new source starts from 0, the fold carries the rest).

Only the two histograms are written per frame, by the inference worker (`FrameMetrics.frame`): prometheus_client's
histogram is thread-safe (a lock per child, a few microseconds), and the labelled children are looked up once per
pipeline, not per frame. Why prometheus_client: its registry takes custom collectors (read-at-scrape counters), its
histograms are safe to observe from the worker thread while the HTTP thread scrapes, and it writes the text format.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

PREFIX = "depth_streamer_"
INFERENCE_BUCKETS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)
LATENCY_BUCKETS = (0.02, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)


def _help(text: str, default: Any = None) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True, slots=True)
class Counters:
    """What one pipeline has counted so far (totals that never go back); each field is a counter of that name (the
    exposition adds _total). `frames_dropped` is labelled by stage."""

    frames_captured: int = _help("Frames the source decoded and handed to the inference slot.", 0)
    frames_published: int = _help("Depth frames the inference worker handed to the publishers.", 0)
    frames_dropped: tuple[tuple[str, int], ...] = _help(
        "Frames dropped, by stage: inference = captured frames the network never saw (newest wins); "
        "zmq/http/imagezmq/foxglove = depth frames a publisher replaced before sending or could not send; "
        "record = frames the recorder's queue had no room for or a write error lost.", ())  # (stage, frames)
    decode_errors: int = _help("Packets that failed to decode plus frames dropped as corrupt.", 0)
    reconnects: int = _help("Source sessions opened again after a failure.", 0)
    inference_errors: int = _help("Frames on which inference raised.", 0)
    nonfinite_frames: int = _help("Frames whose network output held NaN or inf (not published; /healthz says so).", 0)

    def items(self) -> Iterator[tuple[str, str, float]]:
        """(name, stage, total) of every counter; stage is "" except for `frames_dropped`."""
        for f in fields(self):
            if f.name == "frames_dropped":
                yield from ((f.name, stage, float(n)) for stage, n in self.frames_dropped)
            else:
                yield f.name, "", float(getattr(self, f.name))


@dataclass(frozen=True, slots=True)
class Gauges:
    """Values right now; None: not measured by this pipeline (the stage is off), so the gauge is absent."""

    source_up: bool = _help("1 while the source delivers frames (state live), else 0.", False)
    healthy: bool = _help("1 while /healthz answers 200, else 0.", False)
    http_viewers: int | None = _help("MJPEG viewers streaming right now.")
    zmq_subscribed_topics: int | None = _help("ZeroMQ frame topics (depth, color) with at least one subscriber (PUB "
                                              "cannot count subscribers, only topics wanted).")
    foxglove_subscriptions: int | None = _help("Foxglove client subscriptions to channels right now (one client on "
                                               "three channels counts three).")
    recording_ok: bool | None = _help("1 while the recorder writes its splits, 0 after a write error (disk full, "
                                      "read-only) until a retry succeeds; absent when recording is off.")
    metric_anchored: bool | None = _help("1 while metric depth is anchored (a fresh or held fit), 0 when anchoring "
                                         "is lost; absent when [metric] mode is off.")
    metric_fit_used: int | None = _help("Anchors (points) or floor pixels (ground) the last metric fit rests on.")
    metric_fit_inliers: float | None = _help("Share of the candidate anchors or floor pixels that agreed with the "
                                             "last fit.")
    metric_fit_residual: float | None = _help("Median relative depth error of the last fit over the points it used.")
    metric_fit_age_seconds: float | None = _help("Age of the measurement behind the metric fit (grows while a fit "
                                                 "is held).")
    metric_expected_abs_rel: float | None = _help("The metric map's predicted AbsRel (the verdict's, read off the "
                                                  "anchors without any truth).")
    metric_verdict: tuple[str, str] | None = _help("(mode, verdict): exposed as the labelled gauge below.")
    metric_abs_rel: float | None = _help("AbsRel of the metric depth against the source's true depth (sources "
                                         "that know it).")
    metric_oracle_abs_rel: float | None = _help("AbsRel of the least-squares oracle (scale/shift fitted on every "
                                                "true pixel), same frame.")

    def items(self) -> Iterator[tuple[str, float]]:
        """(name, value) of every gauge this pipeline measures."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and f.name != "metric_verdict":
                yield f.name, float(value)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    backend: str
    precision: str  # what serves now (after the gate)
    weights_official: bool

    def labels(self) -> dict[str, str]:
        return {"backend": self.backend, "precision": self.precision,
                "weights_official": str(self.weights_official).lower()}


@dataclass(frozen=True, slots=True)
class Sample:
    """What a pipeline has counted and measures, read at scrape time."""

    counters: Counters = Counters()
    gauges: Gauges | None = None
    model: ModelInfo | None = None


class Sampled(Protocol):
    def sample(self) -> Sample: ...


class FrameMetrics:
    """Per-frame observations for one camera; called by the inference worker, in its thread."""

    def __init__(self, inference: Histogram, latency: Histogram) -> None:
        self._inference, self._latency = inference, latency

    def frame(self, infer_s: float, latency_s: float) -> None:
        self._inference.observe(infer_s)
        self._latency.observe(latency_s)


class Metrics:
    """The process's registry. The Daemon owns one and hands it to every Pipeline it builds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._inference = Histogram(PREFIX + "inference_seconds", "Network inference time per frame.", ["camera"],
                                    buckets=INFERENCE_BUCKETS, registry=self.registry)
        self._latency = Histogram(PREFIX + "latency_seconds", "Capture to publish: from the frame's capture to "
                                  "its depth being handed to the publishers.", ["camera"], buckets=LATENCY_BUCKETS,
                                  registry=self.registry)
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, open fds, CPU seconds
        self._lock = threading.Lock()
        self._boards: dict[str, Sampled] = {}  # by camera (stream id)
        self._retired: defaultdict[tuple[str, str, str], float] = defaultdict(float)  # (name, camera, stage)
        self.registry.register(self)

    def frames(self, camera: str) -> FrameMetrics:
        """The per-frame observer for `camera`'s worker."""
        return FrameMetrics(self._inference.labels(camera), self._latency.labels(camera))

    def attach(self, board: Sampled, camera: str) -> None:
        """Read `board` (one camera) from now on; see `attach_all`."""
        self.attach_all({camera: board})

    def attach_all(self, boards: dict[str, Sampled]) -> None:
        """Read `boards` (one per camera, i.e. stream) from now on; fold the totals of the boards they replace into
        the retired ones first, so no counter goes back."""
        with self._lock:
            for camera, old in self._boards.items():
                if boards.get(camera) is old:
                    continue  # a stream a reload kept running: its counters run on
                for name, stage, value in old.sample().counters.items():
                    self._retired[(name, camera, stage)] += value
            self._boards = dict(boards)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format, version 0.0.4."""
        return generate_latest(self.registry)

    # -- the registry's collector --------------------------------------------------------------------------------
    def describe(self) -> list:
        return []  # collected at scrape time only; names are not reserved in the registry

    def collect(self):
        with self._lock:
            boards, totals = dict(self._boards), dict(self._retired)
        samples = {camera: board.sample() for camera, board in boards.items()}
        for camera, sample in samples.items():
            for name, stage, value in sample.counters.items():
                key = (name, camera, stage)
                totals[key] = totals.get(key, 0.0) + value
        for f in fields(Counters):
            staged = f.name == "frames_dropped"
            family = CounterMetricFamily(PREFIX + f.name, f.metadata["help"],
                                         labels=["camera", "stage"] if staged else ["camera"])
            for (n, cam, stage), value in sorted(totals.items()):
                if n == f.name:
                    family.add_metric([cam, stage] if staged else [cam], value)
            yield family
        gauges = {camera: dict(s.gauges.items()) if s.gauges is not None else {} for camera, s in samples.items()}
        yield _verdict_family({camera: s.gauges.metric_verdict for camera, s in samples.items()
                               if s.gauges is not None})
        for f in fields(Gauges):
            if f.name == "metric_verdict":
                continue
            gauge = GaugeMetricFamily(PREFIX + f.name, f.metadata["help"], labels=["camera"])
            for camera, values in gauges.items():
                if f.name in values:
                    gauge.add_metric([camera], values[f.name])
            yield gauge
        info = InfoMetricFamily(PREFIX + "model", "The network that runs: backend, numeric precision, and whether "
                                "the weights are the official file.", labels=["camera"])
        for camera, sample in samples.items():
            if sample.model is not None:
                info.add_metric([camera], sample.model.labels())
        yield info


VERDICTS = ("good", "uncertain", "refused")


def _verdict_family(current: dict[str, tuple[str, str] | None]) -> GaugeMetricFamily:
    """depth_streamer_metric_verdict{camera, mode, verdict}: 1 on the last frame's verdict, 0 on the others (one
    series per verdict, so `== 1` selects it and a change of verdict is a change of series value, not of labels);
    `current`: each camera's (mode, verdict), None where it has none."""
    family = GaugeMetricFamily(PREFIX + "metric_verdict", "The verdict on the last metric map, by [metric] mode: 1 "
                               "for its verdict (good: its AbsRel is promised within max_rel_error; uncertain; "
                               "refused: no metric map), 0 for the others.", labels=["camera", "mode", "verdict"])
    for camera, verdict_now in current.items():
        if verdict_now is not None:
            for verdict in VERDICTS:
                family.add_metric([camera, verdict_now[0], verdict], 1.0 if verdict == verdict_now[1] else 0.0)
    return family
