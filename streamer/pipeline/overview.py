"""Overview: the daemon's status over several streams, for the supervisor, the HTTP root and sd_notify.

It asks each stream's own StatusBoard (never a stage) and the shared network scheduler, and combines: the daemon
serves when every stream does; a stream whose camera is down is degraded (named on /healthz and in the status
line) but keeps the watchdog fed while its source retries; a dead stage thread of any stream, or a network call
wedged past `[daemon] stall_s`, stops the watchdog. With one unnamed stream the daemon uses that stream's board
itself, so nothing of today's status changes.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from streamer.core.redact import redact
from streamer.core.status import Health

if TYPE_CHECKING:  # annotations only
    from streamer.pipeline.scheduler import NetworkScheduler
    from streamer.pipeline.status import StatusBoard


class Overview:
    def __init__(self, boards: dict[str, StatusBoard], network: NetworkScheduler, stall_s: float,
                 exposition: Callable[[], bytes] | None = None) -> None:
        self.boards, self.network, self.stall_s = boards, network, stall_s
        self._exposition = exposition

    def _each(self) -> Sequence[tuple[str, StatusBoard]]:
        return list(self.boards.items())

    # -- what the HTTP root and ZeroMQ consult (PipelineStatus) ---------------------------------------------------
    def health(self) -> Health:
        """Healthy while every stream serves or has finished (a file's end is not a fault) and one still serves;
        the reason names the degraded streams and those that ended."""
        ended = [f"{sid} ({why})" for sid, b in self._each() if (why := b.finished()) is not None]
        bad = [(sid, h.reason) for sid, b in self._each() if b.finished() is None and not (h := b.health()).ok]
        tail = f"ended: {', '.join(ended)}" if ended else ""
        if len(ended) == len(self.boards):
            return Health(False, tail)
        if not bad:
            return Health(True, f"ok; {tail}" if tail else "ok")
        return Health(False, "degraded: " + "; ".join(f"{sid} ({reason})" for sid, reason in bad)
                      + (f"; {tail}" if tail else ""))

    def no_signal(self) -> str | None:
        down = [sid for sid, b in self._each() if b.no_signal()]
        return f"no signal: {', '.join(down)}" if len(down) == len(self.boards) else None

    def idle(self) -> bool:
        return all(b.idle() for _, b in self._each())

    def scaled_input(self, width: int, height: int) -> tuple[int, int] | None:
        return next(iter(self.boards.values())).scaled_input(width, height)

    def snapshot(self) -> dict[str, Any]:
        streams = {sid: b.snapshot() for sid, b in self._each()}
        first = next(iter(streams.values()))
        return {"streams": streams, "ended": [sid for sid, b in self._each() if b.finished() is not None],
                "fps_out": round(sum(s["fps_out"] for s in streams.values()), 2),
                "frames_out": sum(s["frames_out"] for s in streams.values()), "model": first["model"],
                "network": {"taken": self.network.taken,
                            "longest_call_s": round(self.network.longest_call_s(), 3)}}

    def metrics(self) -> bytes:
        return self._exposition() if self._exposition is not None else b""

    # -- for the supervisor --------------------------------------------------------------------------------------
    def serving(self) -> bool:
        return all(b.serving() or b.finished() is not None for _, b in self._each())

    def ready_reason(self) -> str:
        return "; ".join(f"{sid}: {b.ready_reason()}" for sid, b in self._each())

    def worker_alive(self) -> bool:
        return all(b.worker_alive() for _, b in self._each())

    def source_failed(self) -> str | None:
        return next((f"stream {sid}: {why}" for sid, b in self._each() if (why := b.source_failed()) is not None),
                    None)

    def ended(self) -> str | None:
        """Every stream's source ended for good (files): why, else None (a stream that ended waits for the rest)."""
        ends = [(sid, b.ended()) for sid, b in self._each()]
        if any(why is None for _, why in ends):
            return None
        return "; ".join(f"{sid}: {why}" for sid, why in ends)

    def frames_out(self) -> int:
        return sum(b.frames_out() for _, b in self._each())

    def progressing(self) -> Health:
        """Feed the watchdog while every stream progresses (or its camera is honestly down and retrying)."""
        wedged = self.network.longest_call_s(time.monotonic())
        if wedged > self.stall_s:
            return Health(False, f"network call wedged for {wedged:.0f} s")
        for sid, board in self._each():
            if board.ended() is not None:
                continue
            progress = board.progressing()
            if not progress.ok:
                return Health(False, f"stream {sid}: {progress.reason}")
        return Health(True, "live")

    def line(self) -> str:
        """One status line summing up every stream, for sd_notify STATUS= and the terminal."""
        parts, total = [], 0.0
        for sid, board in self._each():
            snap = board.snapshot()
            total += snap["fps_out"]
            src = snap["source"]
            state = "live" if src["state"] == "live" else f"{src['state']} ({src['reason']})"
            lat = snap["latency_ms"]["p50"]
            parts.append(f"{sid} {state} {snap['fps_out']:.1f} fps p50 {lat if lat is not None else '-'} ms "
                         f"dropped {snap['dropped']}")
        first = next(iter(self.boards.values()))
        return redact(f"{len(parts)} streams, {total:.1f} fps: " + "; ".join(parts) + f"; {first.precision_line()}")
