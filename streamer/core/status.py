"""PipelineStatus: the one read-only view of the running pipeline that stages, the supervisor and tools consult.

Stages never get callbacks into each other, nor reach into each other's state: a publisher that must say why
there is no picture, answer /healthz or serve /stats asks this interface; the inference worker asks it whether
anyone is watching. The pipeline implements it from the stages' public counters (`streamer.pipeline.status`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the daemon does its job right now, and in words why (or why not)."""

    ok: bool
    reason: str  # "ok", "idle: ...", "starting: ...", "stalled: ...", or why the source is not live


class PipelineStatus(Protocol):
    def health(self) -> Health:
        """Up end to end, or why not."""
        ...

    def no_signal(self) -> str | None:
        """Why the source delivers no frames ("source offline: ..."), or None while it is live."""
        ...

    def idle(self) -> bool:
        """Inference is paused on purpose (pause_when_idle and nobody subscribed or watching)."""
        ...

    def snapshot(self) -> dict:
        """Every counter and rate, as the /stats document and the ZeroMQ status heartbeat carry it."""
        ...

    def metrics(self) -> bytes:
        """The process's metrics in the Prometheus text exposition format (version 0.0.4), for /metrics."""
        ...

    def scaled_input(self, width: int, height: int) -> tuple[int, int] | None:
        """(w, h): the network-input size a source whose decoder can scale should make of each width x height picture
        (the `decoder-scaled` preprocessing serves), leaving its full-size BGR to whoever needs it; None: convert
        every picture to full-size BGR at capture."""
        ...
