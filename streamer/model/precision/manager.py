"""What the daemon and the CLI call: pick the precision once real frames are in, re-check it on live frames, keep
the verdict for the next start.

    manager = PrecisionManager(options, fp32_backend, source=url)   # model's fp32 while the daemon publishes
    if manager.wants_frames:
        verdict = manager.cached(size)                       # a restart: serve manager.adopt(verdict) at once,
        ...                                                  # then manager.confirm(first live frames)
        choice = manager.select(collector.frame_set(options.gate_frames))   # else: build, gate, race (slow)
    ...every few minutes, off the hot path, with a few recent live frames:
    if manager.recheck_due():
        changed = manager.recheck(recent_frames)             # None: still passes; else fell back (log .reason)
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from streamer.core.files import file_sha256
from streamer.core.memory import trim
from streamer.core.picture import Picture
from streamer.model import ModelOptions
from streamer.model.interface import Backend, OnnxExport
from streamer.model.precision import FALLBACK
from streamer.model.precision.backends import OpenVinoBackend, OrtFileBackend, engine_for, make_backend, stream_layout
from streamer.model.precision.cache import Verdict, VerdictCache, verdict_key
from streamer.model.precision.calibration import FrameCollector, FrameSet, network_inputs
from streamer.model.precision.choose import Choice, Int8Model, build_candidate, choose, resolve_precision
from streamer.model.precision.cpu import CpuFeatures, detect
from streamer.model.precision.fastprep import PreprocessChoice, candidates_for, choose_preprocess
from streamer.model.precision.gate import GateResult, Thresholds
from streamer.model.precision.quantize import DEFAULT_SETTINGS, QuantSettings, touch
from streamer.model.preprocess import Preprocessor

log = logging.getLogger(__name__)


def thresholds_from(options) -> Thresholds:
    return Thresholds(options.max_nmae, options.max_frame_nmae, options.min_corr)


class PrecisionManager:
    def __init__(self, options: ModelOptions, fp32_backend: Backend, cpu: CpuFeatures | None = None,
                 build=build_candidate, cache: VerdictCache | None = None, source: str = "",
                 has_openvino: bool | None = None, streams: int = 1) -> None:
        """`build(precision, fp32, frames, threads, engine, settings, cpu)` makes a candidate (tests pass fakes);
        `cache`: where verdicts are kept across restarts (None: nowhere); `source`: what the frames come from;
        `streams`: frames the worker keeps in the network at once (candidates are built, and raced, that way)."""
        self.options = options
        self._build = build
        self.fp32 = fp32_backend
        self.cpu = cpu or detect()
        self.settings: QuantSettings = replace(DEFAULT_SETTINGS, reduce_range=self.cpu.reduce_range())
        self.cache, self.source = cache, source
        pinning = options.openvino_pinning
        self.layout = {**({} if pinning == "auto" else {"ENABLE_CPU_PINNING": pinning == "on"}),
                       **stream_layout(streams)}
        self.tries: list[str]
        self.notes: list[str]
        if fp32_backend.name != "onnxruntime":
            self.tries, self.notes = [], [f"low precision runs from the ONNX export; backend {fp32_backend.name} "
                                          "stays fp32"]
        else:
            self.tries, self.notes = resolve_precision(options.precision, self.cpu, options.precision_engine,
                                                       has_openvino)
        if "int8" in self.tries and self.settings.reduce_range:
            self.notes.append(f"int8 with reduce_range (7-bit weights): {self.cpu.reason('int8')}")
        self.choice = Choice("fp32", fp32_backend, [], "precision fp32 (" + ("; ".join(self.notes) or
                                                                           "low precisions not built yet") + ")")
        self.frames: FrameSet | None = None
        self.size: tuple[int, int] | None = None
        self.checked_at: float | None = None
        self._built: dict[str, Backend] = {}
        self._released_builds = 0
        self.preprocess = PreprocessChoice("exact")
        self.race = True  # False: gate accuracy only (building for another machine: `quantize --any-cpu`)

    @property
    def wants_frames(self) -> bool:
        return bool(self.tries)

    @property
    def builds(self) -> int:
        """int8 quantisations run by this manager's candidates (0 when every int8 file came from the cache)."""
        return self._released_builds + sum(_builds(b) for b in self._built.values())

    def collector(self) -> FrameCollector:
        o = self.options
        return FrameCollector(o.calibration_frames + o.gate_frames, o.calibration_seconds)

    def net_size_for(self, frame: np.ndarray | Picture) -> tuple[int, int]:
        w, h = (frame.width, frame.height) if isinstance(frame, Picture) else (frame.shape[1], frame.shape[0])
        return Preprocessor(self.options.net_size).size_for(w, h)[::-1]  # (net_h, net_w); a picture: not converted

    def _builder(self, precision: str):
        def build():
            if precision not in self._built:
                self._built[precision] = self._build(precision, self.fp32, self.frames, self.options.threads,
                                                     self.options.precision_engine, self.settings, self.cpu,
                                                     self.layout)
            return self._built[precision]
        return build

    # -- a fresh decision ------------------------------------------------------------------------------------------
    def select(self, frames: FrameSet, size: tuple[int, int] | None = None, now: float | None = None) -> Choice:
        """Build, gate and race the candidates on `frames` (network input `size` (h, w): default, the frames')."""
        self.frames = frames
        self.size = size or self.net_size_for(frames.held_out[0])
        held = network_inputs(frames.held_out, *self.size)
        self.choice = choose(self.fp32, {p: self._builder(p) for p in self.tries}, held, thresholds_from(self.options),
                             self.options.precision, [*self.notes, frames.describe()], race=self.race)
        candidates = candidates_for(self.options.preprocess)
        if candidates:  # on the decoded pictures where the live source gave them: decoder-scaled needs them
            self.preprocess = choose_preprocess(self.fp32, frames.held_out_pictures or frames.held_out,
                                                self.options.net_size, thresholds_from(self.options), candidates)
            self.choice.reason += f"; {self.preprocess.reason}"
        self.checked_at = time.monotonic() if now is None else now
        log.info("%s", self.choice.reason)
        self._remember()
        return self.choice

    def release_unused(self) -> None:
        """Once the choice serves: drop the losing candidates (compiled networks; a fall-back rebuilds them) and, while
        a low precision serves, the fp32 sessions (a re-check's reference runs rebuild them), then trim the heap."""
        self._released_builds += sum(_builds(b) for p, b in self._built.items() if p != self.choice.precision)
        self._built = {p: b for p, b in self._built.items() if p == self.choice.precision}
        if self.choice.precision != "fp32" and isinstance(self.fp32, OnnxExport):
            self.fp32.release()
        if self.frames is not None:  # ~45 MB of 640x480 frames; only int8 needs its calibration ones (a new size)
            self.frames.keep_for_later(self.options.net_size)
            self.frames = self.frames if self.choice.precision == "int8" else None
        trim()

    # -- verdicts kept across restarts -----------------------------------------------------------------------------
    def _key(self, size: tuple[int, int]) -> dict:
        o = self.options
        sha256 = self.fp32.weights_sha256 if isinstance(self.fp32, OnnxExport) else "?"
        return verdict_key(weights_sha256=sha256, size=size,
                           settings=self.settings, thresholds=thresholds_from(o), requested=o.precision,
                           engine=o.precision_engine, threads=o.threads, cpu=self.cpu, source=self.source,
                           layout=self.layout)

    def _remember(self) -> None:
        if self.cache is None or self.size is None or self.frames is None:
            return
        r = self.choice.result
        model_file = None
        if self.choice.precision == "int8":
            assert isinstance(self.fp32, OnnxExport)  # int8 is built only from the ONNX export
            model_file = Int8Model(self.fp32, self.frames, self.settings)(*self.size)  # the cached file; no build
        self.cache.store(self._key(self.size), Verdict(
            self.choice.precision, self.choice.reason, r.as_dict() if r else None,
            str(model_file) if model_file else None, file_sha256(model_file) if model_file else None,
            self.preprocess.mode))

    def cached(self, size: tuple[int, int]) -> Verdict | None:
        if self.cache is None or not self.tries:
            return None
        verdict = self.cache.load(self._key(size))
        if verdict is not None:
            log.info("precision cache hit: %s served last time on these weights, settings, CPU, engines and "
                     "source", verdict.precision)
        return verdict

    def adopt(self, verdict: Verdict, size: tuple[int, int], now: float | None = None) -> Choice:
        """Serve a cached verdict: build its backend from the cached file (no quantisation); confirm() re-checks."""
        self.size = size
        self.checked_at = time.monotonic() if now is None else now
        allowed = verdict.preprocess in candidates_for(self.options.preprocess)  # model.preprocess may have changed
        self.preprocess = PreprocessChoice(verdict.preprocess if allowed else "exact")
        reason = f"cached verdict, re-checking on live frames: {verdict.reason}"
        if verdict.precision == "fp32":
            self.choice = Choice("fp32", self.fp32, [], reason)
            return self.choice
        engine = engine_for(verdict.precision, self.options.precision_engine, self.cpu)
        if verdict.precision == "int8":
            path = verdict.model_file
            assert path is not None  # an int8 verdict keeps its file (the cache checked it)
            touch(Path(path))  # in use: the last the int8 cache would remove
            backend = make_backend(engine, lambda h, w: _sized(path, size, h, w), "int8", self.options.threads,
                                   self.layout)
        else:
            backend = self._build(verdict.precision, self.fp32, None, self.options.threads,
                                  self.options.precision_engine, self.settings, self.cpu, self.layout)
        self._built = {verdict.precision: backend}
        result = GateResult(**verdict.result) if verdict.result else None
        self.choice = Choice(verdict.precision, backend, [result] if result else [], reason)
        return self.choice

    def confirm(self, live_frames: Sequence[np.ndarray], now: float | None = None) -> Choice | None:
        """Gate the adopted verdict on this run's first live frames: the choice if it still passes, else None."""
        if self.choice.precision == "fp32":
            return self.choice
        assert self.size is not None  # adopt() set it
        inputs = network_inputs(live_frames, *self.size)
        checked = choose(self.fp32, {self.choice.precision: self.choice.backend}, inputs,
                         thresholds_from(self.options), self.choice.precision,
                         [f"cached verdict re-checked on the first {len(inputs)} live frames"], race=False)
        self.checked_at = time.monotonic() if now is None else now
        if checked.precision == "fp32":
            log.warning("the cached %s verdict fails on this run's frames; deciding again: %s",
                        self.choice.precision, checked.reason)
            self.choice = Choice("fp32", self.fp32, checked.results, checked.reason)
            self._built = {}
            return None
        self.choice = Choice(checked.precision, checked.backend, _with_race(checked.results, self.choice.result),
                             f"precision {checked.precision} (cached verdict, re-checked on the first "
                             f"{len(inputs)} live frames: {checked.results[0].summary()}); last decision: "
                             + self.choice.reason.removeprefix("cached verdict, re-checking on live frames: "))
        return self.choice

    # -- re-checks while serving ----------------------------------------------------------------------------------
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
        inputs = network_inputs(live_frames, *self.net_size_for(live_frames[0]))
        lower = [p for p in FALLBACK[FALLBACK.index(current) + 1:] if p in self.tries]
        candidates = {current: self.choice.backend, **{p: self._builder(p) for p in lower}}
        # Explicit order from the serving precision down: keep it while it passes, else the next that passes and
        # (being new here) wins its race.
        choice = choose(self.fp32, candidates, inputs, thresholds_from(self.options), current,
                        [f"re-check on {len(inputs)} live frames"], race=False)
        if choice.precision == current:
            self.choice = Choice(current, self.choice.backend, _with_race(choice.results, self.choice.result),
                                 self.choice.reason)
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


def _with_race(results: list[GateResult], before: GateResult | None) -> list[GateResult]:
    """Accuracy re-checks are not raced: the serving precision keeps the race figures that put it there."""
    if before is None or not before.raced:
        return results
    return [replace(r, ms=before.ms, fp32_ms=before.fp32_ms) if r.precision == before.precision and not r.raced
            else r for r in results]


def _builds(backend: Backend) -> int:
    """int8 quantisations run to make this candidate (0: none, or its file came from the cache)."""
    model_file = backend.model_file if isinstance(backend, (OpenVinoBackend, OrtFileBackend)) else None
    return model_file.builds if isinstance(model_file, Int8Model) else 0


def _sized(path: str, size: tuple[int, int], height: int, width: int):
    if (height, width) != tuple(size):
        raise ValueError(f"the cached int8 file is for {size[1]}x{size[0]}, not {width}x{height}")
    return path


def explain(requested: str, choice: Choice) -> None:
    """An explicit request that did not get what it asked for says so at WARNING: which precision runs, and why."""
    if requested not in ("auto", "fp32") and choice.precision != requested:
        log.warning("--precision %s requested, %s runs: %s", requested, choice.precision, choice.reason)
