"""A dependency-free progress bar on stderr: redrawn in place on a terminal, a line every few seconds in a log."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`update(n, **fields)` after each unit of work; shows done/total, rate, ETA and the given fields."""

    def __init__(self, total: int, label: str, unit: str = "img", stream: TextIO | None = None,
                 log_every_s: float = 5.0, initial: int = 0) -> None:
        self.total, self.label, self.unit = total, label, unit
        self.stream = stream or sys.stderr
        # A pipe or journal would fill with carriage-return redraws; there we print whole lines, less often.
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every_s = log_every_s
        self.done = self.initial = initial  # initial: done before this bar started (a resumed epoch); not in the rate
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._fields: dict = {}
        self._eta: float | None = None  # set by callers who know better (the trainer: the whole run, not one epoch)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float:
        rate = self.rate
        if self._eta is not None:
            return self._eta
        return (self.total - self.done) / rate if rate > 0 else 0.0

    def update(self, n: int = 1, eta: float | None = None, **fields) -> None:
        """n more done; a negative n takes work back (batch: the frames of a dead worker's attempt at a unit that
        runs again, so the bar counts them once)."""
        self.done += n
        self._eta = eta
        self._fields.update(fields)
        now = time.monotonic()
        if now - self._last_draw >= (0.2 if self.tty else self.log_every_s) or self.done >= self.total:
            self._draw(final=False)
            self._last_draw = now

    def line(self) -> str:
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        extra = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in self._fields.items())
        return (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{extra + ' ' if extra else ''}{self.rate:.2f} {self.unit}/s ETA {fmt_duration(self.eta())}")

    def _draw(self, final: bool) -> None:
        if self.tty:
            print("\r" + self.line() + "\x1b[K", end="\n" if final else "", file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self._draw(final=True)
        elif self.done < self.total or self._last_draw == 0.0:
            self._draw(final=True)
