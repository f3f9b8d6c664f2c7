"""RecorderShare: the daemon's one recorder as its several streams share it (one bag for every stream).

It works like this: each stream holds a RecordFeed, a publisher of its own lane of the recorder (its topics under its
[ros] names). The recorder runs while any stream's feed is started: the first feed to start starts it, the last to
stop stops it, so a reload that removes or changes the stream that made the recorder keeps the recording - and every
stream it did not change - running, like the ZeroMQ socket (`ZmqHub`). The bag's status topic is the oldest started
stream's, and so are the recorder's drops on /metrics (each stream's /stats shows the one recorder's counters).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from streamer.core.frame import DepthFrame
from streamer.core.status import PipelineStatus
from streamer.publish.base import Publisher
from streamer.record.recorder import Recorder

if TYPE_CHECKING:
    from streamer.publish.topics import RosOptions
    from streamer.render.renderer import FrameRenderer


class RecorderShare:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._lock = threading.Lock()
        self._started: dict[int, PipelineStatus | None] = {}  # started feeds' lanes, oldest first, with their status
        self._lane0_taken = False

    def feed(self, ros: RosOptions, renderer: FrameRenderer) -> RecordFeed:
        """A stream's feed: the recorder's own lane for the stream it was built for (the first feed), else a new one."""
        with self._lock:
            lane = self.recorder.lane(ros, renderer) if self._lane0_taken else 0
            self._lane0_taken = True
        return RecordFeed(self, lane)

    def start(self, lane: int, status: PipelineStatus | None) -> None:
        with self._lock:
            if lane in self._started:
                return
            if not self._started:
                self.recorder.start(status)
            self._started[lane] = status
            self._report()

    def stop(self, lane: int, timeout: float) -> bool:
        with self._lock:
            if lane not in self._started:
                return True
            del self._started[lane]
            if self._started:
                self._report()
                return True
            return self.recorder.stop(timeout)

    def reporter(self) -> int | None:
        """The lane whose stream reports the recorder (status topic, drops): the oldest started."""
        return next(iter(self._started), None)

    def _report(self) -> None:
        lane = next(iter(self._started))
        self.recorder.status_of = (lane, self._started[lane])  # one store: the recorder thread reads it whole


class RecordFeed(Publisher):
    """One stream's publisher into the shared recorder: no thread of its own, the recorder's answers for the board."""

    section = "record"

    def __init__(self, share: RecorderShare, lane: int) -> None:
        super().__init__(share.recorder.name)
        self.share, self.lane = share, lane
        self.recorder = share.recorder

    def start(self, status: PipelineStatus | None = None) -> None:
        self.share.start(self.lane, status)

    def stop(self, timeout: float = 2.0) -> bool:
        return self.share.stop(self.lane, timeout)

    def publish(self, frame: DepthFrame) -> None:
        self.recorder.publish(frame, self.lane)

    @property
    def running(self) -> bool:
        return self.recorder.running

    def dead(self) -> bool:
        return self.recorder.dead()

    @property
    def published(self) -> int:
        return self.recorder.published

    @property
    def dropped(self) -> int:
        """The recorder's drops, counted once (on the reporting stream), not once for every stream."""
        return self.recorder.dropped if self.share.reporter() == self.lane else 0

    def audience(self) -> int:
        return self.recorder.audience()

    def recording_ok(self) -> bool:
        return self.recorder.recording_ok()

    def counters(self) -> dict:
        return self.recorder.counters()
