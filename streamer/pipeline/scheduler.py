"""NetworkScheduler: one network shared by every stream, fed the newest frame of each stream in turn.

It works like this: every stream ("lane": its InferenceWorker) has a one-slot inbox its source writes, so each stream
has at most one frame waiting (Frigate's "at most one request per camera"): a camera's slot is newest-wins, an
unpaced file's is lossless (its decoder waits until the frame is taken). The scheduler's one "inference" thread
wakes when any inbox gets a frame or the network frees a place, and walks the lanes round-robin from the one after
the last served, taking the first lane's frame that is ready: a frame waits, its `max_fps` turn has come, and the
lane's own flight has room. So a 30 fps stream never starves a 5 fps one (each waits at most one turn of every other
stream), and a stream's rate cap costs the others nothing. How many frames are in the network at once, over all
streams, is the serving backend's `streams` (see `worker`). Every frame taken is offered to the tap (the precision
stage) first, so calibration, gate and race draw from every stream.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.model import DepthModel

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 4  # model.frames_in_flight's bound: the pool never needs more threads than this
IDLE_WAIT_S = 0.25  # the longest the thread sleeps without a wake-up: bounds the stop latency


class FrameTap(Protocol):
    """Sees each frame the network takes, on the hot path, and must return at once (the precision stage)."""

    def offer(self, frame: CapturedFrame) -> None: ...


class Lane(Protocol):
    """A stream as the scheduler sees it: its inbox, when its next frame may go, and where the result goes."""

    inbox: LatestSlot[CapturedFrame]

    def due_in(self, now: float) -> float: ...

    def room(self, streams: int) -> bool: ...

    def take(self, now: float) -> CapturedFrame | None: ...

    def infer(self, frame: CapturedFrame) -> tuple: ...

    def admit(self, frame: CapturedFrame, future: Future) -> None: ...

    def halt(self) -> None: ...


class NetworkScheduler:
    def __init__(self, model: DepthModel, tap: FrameTap | None = None) -> None:
        self.model = model
        self.tap = tap
        self._lanes: list[Lane] = []
        self._turn = 0  # the lane looked at first next time: the one after the last served
        self._calls: dict[Future, float] = {}  # frames in the network now, with when each went in
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.taken = 0  # frames sent into the network, every lane together

    # -- lanes ---------------------------------------------------------------------------------------------------
    def add(self, lane: Lane) -> None:
        with self._cond:
            self._lanes.append(lane)
            self._cond.notify_all()
        lane.inbox.listen(self.wake)

    def remove(self, lane: Lane) -> None:
        lane.inbox.listen(None)
        with self._cond:
            if lane in self._lanes:
                self._lanes.remove(lane)

    def wake(self, *_: object) -> None:
        """A frame came or a place in the network freed up: look again (any thread; returns at once)."""
        with self._cond:
            self._cond.notify_all()

    # -- life ----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="network")
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def longest_call_s(self, now: float | None = None) -> float:
        """How long the oldest frame now in the network has been there (0 when none is): a wedged network call
        grows it without bound, which the supervisor reads as "stop feeding the watchdog"."""
        with self._cond:
            oldest = min(self._calls.values(), default=None)
        return 0.0 if oldest is None else (now if now is not None else time.monotonic()) - oldest

    # -- the "inference" thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                lane, frame = self._next()
                if lane is None or frame is None:
                    continue
                if self.tap is not None:
                    self.tap.offer(frame)
                assert self._pool is not None  # start() made it
                future = self._pool.submit(lane.infer, frame)
                with self._cond:
                    self._calls[future] = time.monotonic()
                    self.taken += 1
                lane.admit(frame, future)
                future.add_done_callback(self._done)
        finally:
            with self._cond:
                lanes = list(self._lanes)
            for lane in lanes:  # every stream's status says "inference worker died" from now on
                lane.halt()

    def _next(self) -> tuple[Lane | None, CapturedFrame | None]:
        """The next ready lane's frame, round-robin; waits (bounded) when none is ready."""
        with self._cond:
            streams = self.model.backend.streams  # >= 1 by every backend's construction
            wait = IDLE_WAIT_S
            if len(self._calls) < streams:
                count = len(self._lanes)
                for i in range(count):
                    index = (self._turn + i) % count
                    lane = self._lanes[index]
                    if not lane.inbox.pending or not lane.room(streams):
                        continue
                    due = lane.due_in(time.monotonic())
                    if due > 0:  # its max_fps turn has not come: the frame waits (a newer one may replace it)
                        wait = min(wait, due)
                        continue
                    frame = lane.take(time.monotonic())
                    if frame is not None:
                        self._turn = (index + 1) % count
                        return lane, frame
            self._cond.wait(wait)
            return None, None

    def _done(self, future: Future) -> None:
        with self._cond:
            self._calls.pop(future, None)
            self._cond.notify_all()
