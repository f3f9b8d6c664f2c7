"""PaceClock: releases frames at their stream time on the monotonic clock, so a file or the demo stands in for a
camera. Every paced source uses this one clock."""
from __future__ import annotations

import time

MAX_PTS_GAP_S = 5.0  # a jump forward in stream time longer than this restarts the clock instead of freezing
MAX_LATE_S = 0.5  # this far behind (slow decode, a busy CPU, time running back) restarts the clock, no burst


class PaceClock:
    """`delay(t)`: seconds to wait before releasing the frame at stream time `t` (seconds).

    The clock is anchored at (monotonic, stream time) of a frame. It restarts when stream time runs backwards (a
    loop, concatenated streams), jumps far ahead, or the caller fell far behind."""

    def __init__(self, max_late_s: float = MAX_LATE_S, max_gap_s: float = MAX_PTS_GAP_S) -> None:
        self.max_late_s = max_late_s
        self.max_gap_s = max_gap_s
        self._anchor: tuple[float, float] | None = None  # (monotonic, stream time) of the anchor frame
        self._last_t = float("-inf")

    def delay(self, t: float) -> float:
        now = time.monotonic()
        if self._anchor is not None and t >= self._last_t:
            due = self._anchor[0] + (t - self._anchor[1])
            if -self.max_late_s <= due - now <= self.max_gap_s:
                self._last_t = t
                return due - now
        self._anchor, self._last_t = (now, t), t
        return 0.0
