"""core/timing.py on a fake clock: exact milliseconds, the interleaved order of the race, warm-up calls untimed."""
from __future__ import annotations

import pytest

from streamer.core import timing


class Clock:
    """perf_counter's stand-in: time moves only when a contender says it worked."""

    def __init__(self) -> None:
        self.now = 100.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.now

    def worker(self, name: str, ms: float):
        def work(x=None):
            self.calls.append(f"{name}{'' if x is None else x}")
            self.now += ms / 1e3
            return name
        return work


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def test_timed_returns_the_result_and_its_milliseconds(clock):
    out, ms = timing.timed(clock.worker("a", 7.5))
    assert out == "a" and ms == pytest.approx(7.5)


def test_samples_skip_the_warm_up(clock):
    steps = iter([50.0, 50.0, 1.0, 2.0, 3.0])  # the first two are warm-up (a cold build), never in the figures

    def work():
        clock.now += next(steps) / 1e3

    assert timing.samples(work, runs=3, warmup=2) == pytest.approx([1.0, 2.0, 3.0])


def test_race_interleaves_contenders_and_gives_each_its_median(clock):
    ms = timing.race({"a": clock.worker("a", 2.0), "b": clock.worker("b", 5.0)}, [1, 2], rounds=2, runs=1, warmup=1)
    assert ms == pytest.approx({"a": 2.0, "b": 5.0})
    # warm-up on the first input, then round by round: every input of a, then of b (never all of a, then all of b)
    assert clock.calls == ["a1", "b1", "a1", "a2", "b1", "b2", "a1", "a2", "b1", "b2"]
