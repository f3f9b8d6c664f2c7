"""The progress bar's view of the units' frames, on the driver: each unit's frames counted once, whatever its attempts.

A worker ticks the frames it finishes as it goes. A worker that dies mid-unit has ticked some of them, and the
attempt that runs the unit again ticks them all again: summed, the bar would pass its total. So the ticks carry
(unit, attempt) and the bar shows, per unit, the frames of one attempt: the newest to start ticking (one attempt
runs a unit at a time: a new one means the one before is dead), or, once the unit is recorded, the attempt that
finished it. Moving from one attempt to another takes the frames of the first back off the bar (a negative tick).
Late ticks of a superseded attempt are kept aside, never shown, unless that attempt turns out to be the one that
finished the unit (a worker killed just after sending its row).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable


class UnitTicks:
    def __init__(self, on_tick: Callable[[int], None]) -> None:
        self.on_tick = on_tick  # the bar's update: n frames more, or fewer when negative
        self._ticked: dict[Hashable, dict[Hashable, int]] = {}  # unit -> attempt -> frames it ticked
        self._shown: dict[Hashable, Hashable] = {}  # unit -> the attempt whose frames the bar holds
        self._done: set[Hashable] = set()

    def tick(self, unit: Hashable, attempt: Hashable, n: int) -> None:
        ticked = self._ticked.setdefault(unit, {})
        new = attempt not in ticked
        ticked[attempt] = ticked.get(attempt, 0) + n
        if unit in self._shown and self._shown[unit] == attempt:
            self.on_tick(n)
        elif new and unit not in self._done:  # a fresh attempt: the one before it died
            self._show(unit, attempt)

    def finished(self, unit: Hashable, attempt: Hashable) -> None:
        """`attempt` answered the unit's row: its frames are the unit's, on the bar for good."""
        if unit not in self._done:
            self._done.add(unit)
            self._show(unit, attempt)

    def shown(self, unit: Hashable) -> int:
        """The unit's frames on the bar now."""
        ticked = self._ticked.get(unit, {})
        return ticked.get(self._shown[unit], 0) if unit in self._shown else 0

    def _show(self, unit: Hashable, attempt: Hashable) -> None:
        before = self.shown(unit)
        self._shown[unit] = attempt
        change = self.shown(unit) - before
        if change:
            self.on_tick(change)
