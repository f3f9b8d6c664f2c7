"""PrecisionStage: picks the network's precision from the running source's own frames, off the hot path, re-checks
it on live frames every few minutes, and starts a restart at full speed from the verdict it kept.

It works like this: the daemon starts in fp32 and publishes at once. The inference worker offers each frame it took
(`offer`, the hot path: a time check and, a few dozen times, a copy). This stage's thread then, once the first
frame says the network size:
- cache hit (same weights, settings, CPU, engine versions and source as a verdict kept before): serves that verdict
  at once from its cached file (no quantisation), and re-checks it against fp32 on the first `gate_frames` live
  frames; a failed re-check goes back to fp32 and decides from scratch;
- otherwise: keeps frames spread over the source's first `calibration_seconds`, split into calibration and
  held-out sets, builds the candidates (int8 calibrated on the first set; bf16), gates each against fp32 on the
  held-out set, races the passing ones against fp32, and switches to the fastest that passed and won.
Every `recheck_s` it gates the serving precision again on recent live frames and falls back when the scene has moved
the error past the threshold. This stage alone writes the model's PrecisionState (through its PrecisionSwitch);
the log, /stats, ZeroMQ headers, /metrics and sd_notify STATUS read it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.core.picture import Picture
from streamer.model import DepthModel, ModelOptions
from streamer.model.precision import PrecisionState
from streamer.model.precision.cache import VerdictCache
from streamer.model.precision.calibration import shrink
from streamer.model.precision.manager import PrecisionManager, explain
from streamer.model.weights import cache_dir

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often the stage's thread looks for work: decisions are not time-critical


class PrecisionStage:
    def __init__(self, model: DepthModel, options: ModelOptions, source: str = "", streams: int = 1) -> None:
        """`streams`: frames the worker keeps in the network at once (pipeline.frames_in_flight)."""
        self.model = model
        self.options = options
        self.switch = model.precision_switch()  # fp32 until this stage decides otherwise
        cache = VerdictCache(cache_dir() / "precision") if options.precision_cache else None
        self.manager = PrecisionManager(options, model.fp32_backend, cache=cache, source=source, streams=streams)
        self._collector = self.manager.collector() if self.manager.wants_frames else None
        self._first_size: tuple[int, int] | None = None
        # Live frames for the re-check, spread over time, at network size (`shrink`): ~2.4 MB, not ~22 MB of pictures.
        self._recent: deque[np.ndarray] = deque(maxlen=options.gate_frames)
        self._incoming: Picture | None = None
        self._recent_every = max(options.recheck_s, 1.0) / max(options.gate_frames, 1)
        self._recent_due = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self.switch.set(PrecisionState("fp32", options.precision, self._collector is not None,
                                       self.manager.choice.reason))
        if self._collector is None:
            log.info("%s", self.manager.choice.reason)
            explain(options.precision, self.manager.choice)

    # -- hot path (inference worker) -----------------------------------------------------------------------------
    def offer(self, frame: CapturedFrame) -> None:
        collector = self._collector
        # Pictures are kept as they come (nothing is converted on the worker's thread); this stage's thread converts
        # the ones it uses. Nobody writes into a captured picture: no copy needed.
        if collector is not None and not collector.done:
            if self._first_size is None:
                self._first_size = self.manager.net_size_for(frame.picture)
            collector.offer(frame.picture, frame.capture_mono)
        elif self.model.precision.serving != "fp32" and frame.capture_mono >= self._recent_due:
            self._incoming = frame.picture  # shrunk and kept by this stage's thread
            self._recent_due = frame.capture_mono + self._recent_every

    # -- the stage's own thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._collector is None:
            return  # fp32 asked for, or nothing to build: nothing to decide
        self._thread = threading.Thread(target=self._run, name="precision", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)  # a build in progress finishes in the background; it is a daemon thread

    def _run(self) -> None:
        while self._first_size is None and not self._stop.wait(POLL_S):
            pass
        if self._first_size is not None and not self._from_cache():
            while not self._stop.wait(POLL_S) and self._collector is not None:
                if self._collector.done:
                    self._select()
        while not self._stop.wait(POLL_S):
            self.keep_recent()
            if self.manager.recheck_due() and len(self._recent) >= 2:
                self._recheck()

    def recent_frames(self) -> list[np.ndarray]:
        """The live frames the next re-check gates on (BGR at network size, oldest first)."""
        return list(self._recent)

    def keep_recent(self) -> None:
        """The frame `offer` picked for the re-checks, shrunk to network size (called by this stage's thread)."""
        picture, self._incoming = self._incoming, None
        if picture is not None:
            self._recent.append(shrink(picture.bgr(), self.options.net_size))

    def _state(self, choice, pending: bool, origin: str) -> PrecisionState:
        r = choice.result
        return PrecisionState(choice.precision, self.options.precision, pending, choice.reason,
                              r.as_dict() if r else None, origin, self.manager.builds,
                              None if pending else time.monotonic() - self._t0, self.manager.preprocess.mode)

    def _from_cache(self) -> bool:
        """Serve a kept verdict at once and re-check it on the first live frames; False: decide from scratch."""
        size, collector = self._first_size, self._collector
        assert size is not None and collector is not None  # _run waits for the first frame; start() for a collector
        try:
            verdict = self.manager.cached(size)
            if verdict is None:
                return False
            choice = self.manager.adopt(verdict, size)
            if choice.precision != "fp32":
                choice.backend.infer(self._dummy())  # compile before switching: the worker never waits on it
            self.switch.set(self._state(choice, choice.precision != "fp32", "cache"), choice.backend)
            log.info("precision from the cache in %.1f s: %s", time.monotonic() - self._t0, choice.reason)
            if choice.precision == "fp32":
                self.switch.update(pending=False, decided_s=time.monotonic() - self._t0)
                explain(self.options.precision, choice)
                self._collector = None
                return True
            need = min(self.options.gate_frames, collector.count)
            while len(collector.frames) < need and not self._stop.wait(POLL_S):
                pass
            if self._stop.is_set():
                return True  # stopping: nothing to confirm
            confirmed = self.manager.confirm(collector.images(need))
        except Exception as exc:  # a damaged cache entry must never take the daemon down
            log.warning("the cached precision verdict could not be used (%s); deciding again", exc)
            confirmed = None
        if confirmed is None:
            self.switch.set(self._state(self.manager.choice, True, "measured"), self.model.fp32_backend)
            return False
        self.switch.set(self._state(confirmed, False, "cache"), confirmed.backend)
        log.info("precision decided in %.1f s: %s", time.monotonic() - self._t0, confirmed.reason)
        self._collector = None
        self.manager.release_unused()  # after the switch: the worker no longer runs fp32
        return True

    def _dummy(self) -> np.ndarray:
        assert self._first_size is not None  # the first frame came
        return np.zeros((1, 3, *self._first_size), np.float32)

    def _select(self) -> None:
        t0 = time.monotonic()
        assert self._collector is not None  # _run selects only while there is one
        try:
            choice = self.manager.select(self._collector.frame_set(self.options.gate_frames))
        except Exception as exc:  # a failed build must never take the daemon down: fp32 is always right
            log.exception("building a low precision failed; staying at fp32")
            self.switch.set(replace_reason(self.model.precision, f"precision fp32 (building a low precision "
                                                                 f"failed: {exc})"), self.model.fp32_backend)
        else:
            explain(self.options.precision, choice)  # said before /stats shows the decision
            log.info("precision decided in %.0f s: %s", time.monotonic() - t0, choice.reason)
            self.switch.set(self._state(choice, False, "measured"), choice.backend)
        finally:
            self._collector = None  # the frames are not needed any more
            self.manager.release_unused()  # after the switch: the worker no longer runs fp32

    def _recheck(self) -> None:
        try:
            changed = self.manager.recheck(self.recent_frames())
        except Exception:
            log.exception("re-checking the precision failed; keeping %s", self.model.precision.serving)
            return
        if changed is not None:
            self.switch.set(self._state(changed, False, "measured"), changed.backend)
        elif self.manager.choice.result is not None:
            self.switch.update(error=self.manager.choice.result.as_dict())  # the newest measurement
        self.manager.release_unused()  # the fp32 sessions the reference runs rebuilt


def replace_reason(state: PrecisionState, reason: str) -> PrecisionState:
    return PrecisionState("fp32", state.requested, False, reason, None, "measured", state.builds, state.decided_s)
