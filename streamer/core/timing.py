"""Timing code, in one place: the precision stage's race, its preprocessing choice and every `bench` use these.

Milliseconds of wall time (perf_counter). `race` times its contenders interleaved, round-robin on the same inputs, so
load from other processes hits each alike: sequential timings on a shared machine compare loads, not code.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()`'s result and the milliseconds it took."""
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1e3


def samples(fn: Callable[[], Any], runs: int, warmup: int = 0) -> list[float]:
    """Milliseconds of each of `runs` calls of `fn`, after `warmup` calls that are not timed."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[1] for _ in range(runs)]


def race(contenders: Mapping[str, Callable[[Any], Any]], inputs: Sequence[Any], rounds: int = 5, runs: int = 1,
         warmup: int = 0) -> dict[str, float]:
    """Median milliseconds per call of each contender. Each round calls every contender in turn, `runs` times on each
    input; `warmup` untimed calls of each on the first input come first."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn(inputs[0])
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            for x in inputs:
                for _ in range(runs):
                    t0 = time.perf_counter()
                    fn(x)
                    times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(ms) for name, ms in times.items()}
