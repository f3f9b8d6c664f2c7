"""Pipeline statistics: plain appends on the hot path, rates and percentiles computed only when someone asks."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over a sliding window of monotonic timestamps."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._stamps: deque[float] = deque(maxlen=4096)
        self.total = 0

    def tick(self, now: float | None = None) -> None:
        self._stamps.append(time.monotonic() if now is None else now)
        self.total += 1

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        stamps = [t for t in list(self._stamps) if now - t <= self.window_s]
        if len(stamps) < 2:
            return 0.0
        span = max(now - stamps[0], stamps[-1] - stamps[0])
        return (len(stamps) - 1) / span if span > 0 else 0.0


def percentiles(values, qs=(50, 90, 99), ndigits: int = 2) -> dict[str, float | None]:
    """{"p50": ..., "p90": ..., "p99": ...} of `values` (None each when there are none)."""
    values = list(values)
    if not values:
        return {f"p{q}": None for q in qs}
    got = np.percentile(np.asarray(values, dtype=np.float64), qs)
    return {f"p{q}": round(float(v), ndigits) for q, v in zip(qs, got, strict=True)}


class Samples:
    """The last N values of a measurement (milliseconds), for percentiles."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(value)

    def percentiles(self, qs=(50, 90, 99)) -> dict[str, float | None]:
        return percentiles(self._values, qs)


class PipelineStats:
    """What the inference worker measures. Written by one thread; read (approximately) by any."""

    def __init__(self) -> None:
        self.started_mono = time.monotonic()
        self.inferred = RateMeter()
        self.latency_ms = Samples()  # capture -> steadied, per frame
        self.infer_ms = Samples()
        self.skipped_idle = 0  # frames not inferred because nobody was watching (pause_when_idle)
        self.errors = 0
        self.last_error = ""
        self.nonfinite = 0  # frames whose network output held NaN or inf: counted, never published
        self.nonfinite_now = False  # the newest inferred frame was one of them
        self.last_nonfinite_mono: float | None = None
        self.last_output_mono: float | None = None
        self.last_seq: int | None = None
        self.running = False  # the worker's thread is alive: set at its start, cleared as it ends (or dies)
        self._lock = threading.Lock()

    def record(self, seq: int, capture_mono: float, infer_ms: float, done_mono: float) -> None:
        self.inferred.tick(done_mono)
        self.latency_ms.add((done_mono - capture_mono) * 1e3)
        self.infer_ms.add(infer_ms)
        self.last_output_mono = done_mono
        self.last_seq = seq
        self.nonfinite_now = False

    def record_nonfinite(self, done_mono: float) -> None:
        self.nonfinite += 1
        self.nonfinite_now = True
        self.last_nonfinite_mono = done_mono

    def record_error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message

    def snapshot(self) -> dict:
        now = time.monotonic()
        return {
            "uptime_s": round(now - self.started_mono, 1),
            "fps_out": round(self.inferred.rate(now), 2),
            "frames_out": self.inferred.total,
            "latency_ms": self.latency_ms.percentiles(),
            "infer_ms": self.infer_ms.percentiles(),
            "skipped_idle": self.skipped_idle,
            "errors": self.errors,
            "last_error": self.last_error,
            "nonfinite_frames": self.nonfinite,
            "last_output_age_s": None if self.last_output_mono is None else round(now - self.last_output_mono, 2),
        }
