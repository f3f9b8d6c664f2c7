"""What a soak run is told: one frozen record, checked when it is made."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamer.errors import StreamerError

BASELINE_S = 30.0  # the first phase runs without the slow subscriber ...
WARMUP_S = 60.0  # ... and RSS growth is judged from the first sample after this


@dataclass(frozen=True)
class SoakOptions:
    video: str
    weights: str | None = None
    minutes: float = 10.0
    paced_fps: float = 30.0
    mjpeg_clients: int = 5
    zmq_subscribers: int = 2  # the last one is the slow one when there are two or more
    sample_s: float = 10.0
    precision: str = "auto"  # model.precision for the daemon under test

    def __post_init__(self) -> None:
        if not Path(self.video).is_file():
            raise StreamerError(f"bench soak: no such video file: {self.video}")
        if self.minutes <= 0 or self.sample_s <= 0 or self.paced_fps <= 0:
            raise StreamerError("bench soak: --minutes, --sample-s and --paced-fps must be positive")
        if self.mjpeg_clients < 0 or self.zmq_subscribers < 1:
            raise StreamerError("bench soak: needs --zmq-subscribers >= 1 (the first one measures latency) and "
                                "--mjpeg-clients >= 0")

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0

    @property
    def baseline_s(self) -> float:
        # Short runs get half their time as baseline; the slow subscriber joins on a sample boundary so that every
        # sample belongs wholly to one phase.
        return max(1, round(min(BASELINE_S, self.duration_s / 2) / self.sample_s)) * self.sample_s

    @property
    def warmup_s(self) -> float:
        return min(WARMUP_S, self.duration_s / 2)
