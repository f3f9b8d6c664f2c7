"""The bar's view of units run more than once: each unit's frames counted once, the attempt that finished it."""
from __future__ import annotations

import io

from streamer.batch.ticks import UnitTicks
from streamer.core.progress import Progress


def bar_and_ticks(total: int) -> tuple[Progress, UnitTicks]:
    bar = Progress(total, "batch", unit="frame", stream=io.StringIO())
    return bar, UnitTicks(bar.update)


def test_a_retried_unit_replaces_the_dead_attempts_frames():
    bar, ticks = bar_and_ticks(30)
    ticks.tick("a", 0, 4)
    ticks.tick("b", 0, 5)
    ticks.tick("a", 0, 3)  # unit a's first worker dies here, 7 frames on the bar
    assert bar.done == 12
    ticks.tick("a", 1, 2)  # the retry starts: a's 7 frames taken back, its 2 shown
    assert bar.done == 7 and ticks.shown("a") == 2
    ticks.tick("a", 0, 6)  # a late tick of the dead attempt: kept aside
    assert bar.done == 7
    ticks.tick("a", 1, 18)
    ticks.finished("a", 1)
    ticks.tick("b", 0, 5)
    ticks.finished("b", 0)
    assert bar.done == 30 and ticks.shown("a") == 20


def test_the_attempt_that_finished_wins():
    """A worker killed just after sending its row: the unit was handed out again, but the first attempt's row is the
    one recorded; the bar shows that attempt's frames, and the superseded retry's later ticks never reach it."""
    bar, ticks = bar_and_ticks(10)
    ticks.tick("a", 0, 10)
    ticks.tick("a", 1, 3)
    assert bar.done == 3
    ticks.finished("a", 0)
    assert bar.done == 10
    ticks.tick("a", 1, 4)
    ticks.tick("a", 2, 4)  # a third attempt started before the row arrived: too late, the unit is recorded
    ticks.finished("a", 1)  # only the first row counts
    assert bar.done == 10
