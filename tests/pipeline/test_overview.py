"""Overview: how several streams' boards combine for the supervisor and the HTTP root. The boards are stand-ins
that answer what a StatusBoard answers (the board itself is tested in test_status.py); the network scheduler is the
real one, with a held network call for "wedged"."""
from __future__ import annotations

from dataclasses import dataclass, field

from streamer.core.status import Health
from streamer.pipeline.overview import Overview


@dataclass
class Board:
    ok: bool = True
    reason: str = "ok"
    ended_why: str | None = None
    alive: bool = True
    progress: Health = field(default_factory=lambda: Health(True, "live"))
    frames: int = 10

    def health(self) -> Health:
        return Health(self.ok, self.reason)

    def no_signal(self) -> str | None:
        return None if self.ok else self.reason

    def idle(self) -> bool:
        return False

    def ended(self) -> str | None:
        return self.ended_why

    def finished(self) -> str | None:  # the real board says so as the source does, before its thread is done
        return self.ended_why

    def worker_alive(self) -> bool:
        return self.alive

    def progressing(self) -> Health:
        return self.progress

    def frames_out(self) -> int:
        return self.frames

    def serving(self) -> bool:
        return self.frames > 0

    def source_failed(self) -> str | None:
        return None


class Network:
    """The scheduler's two readings the overview uses."""

    def __init__(self, wedged_s: float = 0.0) -> None:
        self.wedged_s, self.taken = wedged_s, 0

    def longest_call_s(self, now: float | None = None) -> float:
        return self.wedged_s


def overview(boards: dict, wedged_s: float = 0.0) -> Overview:
    return Overview(boards, Network(wedged_s), stall_s=10.0)  # type: ignore[arg-type]


def test_health_names_only_the_degraded_streams():
    view = overview({"front": Board(), "rear": Board(ok=False, reason="source offline: refused"), "side": Board()})
    health = view.health()
    assert not health.ok and health.reason == "degraded: rear (source offline: refused)"
    assert view.no_signal() is None  # the daemon still has signal: two cameras are live
    assert overview({"front": Board()}).health() == Health(True, "ok")


def test_the_watchdog_is_fed_while_a_camera_is_down_and_stops_on_a_dead_stage_or_a_wedged_network():
    down = Board(ok=False, reason="source offline", progress=Health(True, "source offline"))
    assert overview({"front": Board(), "rear": down}).progressing().ok
    stuck = Board(progress=Health(False, "inference worker died"))
    result = overview({"front": Board(), "rear": stuck}).progressing()
    assert not result.ok and result.reason == "stream rear: inference worker died"
    wedged = overview({"front": Board(), "rear": Board()}, wedged_s=11.0).progressing()
    assert not wedged.ok and "network call wedged for 11 s" in wedged.reason
    assert not overview({"a": Board(), "b": Board(alive=False)}).worker_alive()


def test_the_daemon_ends_only_when_every_stream_has_ended():
    a, b = Board(ended_why="end of file"), Board()
    view = overview({"a": a, "b": b})
    assert view.ended() is None
    assert view.progressing().ok  # an ended stream is not a stalled one
    b.ended_why = "end of file"
    assert view.ended() == "a: end of file; b: end of file"
    assert view.frames_out() == 20


def test_an_ended_file_stream_is_finished_not_degraded_while_another_serves():
    clip = Board(ok=False, reason="source ended: end of file", ended_why="end of file")
    view = overview({"front": Board(), "clip": clip})
    assert view.health() == Health(True, "ok; ended: clip (end of file)")
    down = overview({"clip": clip, "cam": Board(ok=False, reason="source offline")}).health()
    assert down == Health(False, "degraded: cam (source offline); ended: clip (end of file)")
    assert overview({"clip": clip}).health() == Health(False, "ended: clip (end of file)")  # nothing serves
    assert overview({"front": Board(), "clip": Board(frames=0, ended_why="end of file")}).serving()  # READY anyway
