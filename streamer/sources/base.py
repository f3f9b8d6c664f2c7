"""The source contract: one capture thread per source, newest frame in a LatestSlot, typed stats, retry with backoff.

It works like this: `start()` runs `_run` in a daemon thread. `_run` calls the subclass's `_session()` (open, decode
and `_emit` frames until stopped, ended or failed) again and again. A session that fails raises `SourceFault`
with a human-readable reason: the source goes `offline`, waits the next backoff step (interruptible by `stop()`)
and opens again. Nothing is raised out of the thread; everything a caller needs to know is in `stats`.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.core.stats import RateMeter
from streamer.core.status import PipelineStatus
from streamer.geometry.camera import CameraModel, Mount
from streamer.sources.options import SourceOptions

log = logging.getLogger(__name__)

PROBE_EVERY_S = 1.0  # while waiting to reconnect: how often a network source checks that its server is back

State = Literal["starting", "live", "offline", "ended", "failed"]


class SourceFault(Exception):
    """A capture session failed; the message is the reason shown in `stats.reason`."""


class SourceBroken(SourceFault):
    """A failure that retrying cannot mend (a file that can never be decoded): the source goes `failed` and ends."""


@dataclass(slots=True)
class SourceStats:
    """Written only by the capture thread with plain assignments; readers take `snapshot()` for a coherent copy."""

    state: State = "starting"
    reason: str = ""  # why the source is in this state ("" when live)
    state_since: float = 0.0  # time.monotonic() of the last state change
    frames: int = 0  # frames decoded and handed to the slot
    decode_errors: int = 0  # packets that failed to decode plus frames dropped as corrupt
    reconnects: int = 0  # sessions opened again after a failure
    resolution_changes: int = 0
    last_frame_mono: float | None = None  # time.monotonic() of the newest frame
    width: int = 0  # decoded size and pixel format of the newest frame, before conversion to BGR
    height: int = 0
    pix_fmt: str = ""
    last_error: str = ""  # why the newest skipped frame or message was skipped (counted in decode_errors)

    def snapshot(self) -> SourceStats:
        return replace(self)


def backoff_delay(schedule: tuple[float, ...], failures: int) -> float:
    """The wait before reconnect attempt number `failures` (0-based); the last step repeats."""
    return schedule[min(failures, len(schedule) - 1)]


class Source:
    """Base of every frame source. Subclasses implement `_session()` and call `_emit()` / `_note_format()`.

    A source runs once: start, then stop. It owns its thread; it owns its slot unless one is passed in, and
    closes an owned slot when it stops or ends, which wakes consumers waiting on it.
    """

    kind = "source"

    # The camera model (at the source's frame size) and mount a source knows exactly (the demo scene); the
    # pipeline uses them where [camera] leaves a key unset. None: unknown.
    camera: CameraModel | None = None
    mount: Mount | None = None

    def __init__(self, options: SourceOptions, slot: LatestSlot[CapturedFrame] | None = None, *,
                 lossless: bool = False, gated: bool = False) -> None:
        """`lossless`: every frame reaches the consumer (the decoder waits for it; unpaced files and the demo);
        `gated`: wait at `gate` after the first frame (recordings, while the network warms up)."""
        self.options = options
        self.lossless = lossless
        # Opened by the pipeline once the network is warm. A file waits at it after its first frame, so a short file
        # is not played out (nor a long one skipped) while the first ONNX export runs; live sources never wait.
        self.gate = threading.Event()
        self.gated = gated
        self.frames: LatestSlot[CapturedFrame] = slot if slot is not None else LatestSlot()
        self._owns_slot = slot is None
        self.stats = SourceStats(state_since=time.monotonic())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: PipelineStatus | None = None  # what the pipeline wants of its pictures (given at start)
        self._seq = -1
        self._logged: set[str] = set()  # kinds of unexpected error whose traceback was logged
        self._rate = RateMeter(window_s=5.0)  # frames captured per second, over a window (outages show at once)

    # -- control, from any thread ------------------------------------------------------------------------------
    def start(self, status: PipelineStatus | None = None) -> None:
        """`status`: the pipeline's board; a source whose decoder can scale asks it which network-input size to make
        (`PipelineStatus.scaled_input`). None: every frame is converted to full-size BGR at capture, as alone."""
        if self._thread is not None:
            raise RuntimeError(f"{self.kind} source already started (sources run once)")
        self._status = status
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the capture thread to finish and wait at most `timeout` s; True when it has ended.

        Every wait in the thread wakes on the stop event. A call blocked inside FFmpeg cannot be woken, but the
        open/read timeouts bound it and the thread is a daemon, so this never hangs and never holds the process.
        """
        self._stop.set()
        if self._owns_slot:
            self.frames.close()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def started(self) -> bool:
        """start() was called and stop() was not."""
        return self._thread is not None and not self._stop.is_set()

    def status(self) -> SourceStats:
        """A coherent copy of the stats, for any thread."""
        return self.stats.snapshot()

    def rate(self) -> float:
        """Frames captured per second over the last few seconds (0 while the camera is down)."""
        return self._rate.rate()

    # -- the capture thread ------------------------------------------------------------------------------------
    def _session(self) -> str | None:
        """Capture until stopped (return None), ended for good (return the reason) or failed (raise SourceFault)."""
        raise NotImplementedError

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                frames_before = self.stats.frames
                try:
                    ended = self._session()
                except SourceBroken as exc:
                    self._set_state("failed", str(exc))
                    return
                except SourceFault as exc:
                    reason = str(exc)
                except Exception as exc:  # a surprise must not kill capture: report it and retry like a fault
                    if type(exc).__name__ not in self._logged:  # its traceback once; each retry says it in a line
                        self._logged.add(type(exc).__name__)
                        log.exception("%s source: unexpected error", self.kind)
                    reason = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                else:
                    if ended is not None and not self._stop.is_set():
                        self._set_state("ended", ended)
                        if self.options.on_eof == "idle":
                            while not self._stop.wait(1.0):
                                pass
                    return
                if self._stop.is_set():
                    return
                if self.stats.frames > frames_before:
                    failures = 0  # it was live in between: start the backoff over
                delay = backoff_delay(self.options.backoff, failures)
                failures += 1
                sooner = ", sooner when the server answers again" if self.probes_server else ""
                self._set_state("offline", f"{reason} (retry in {delay:g} s{sooner})")
                if self._wait_to_retry(delay):
                    return
                self.stats.reconnects += 1
        finally:
            if self._owns_slot:
                self.frames.close()

    @property
    def probes_server(self) -> bool:
        """A network source that can tell when its server is back (see _wait_to_retry)."""
        return False

    def _server_answers(self) -> bool:
        """Whether the input's server accepts a connection now (only asked where `probes_server`)."""
        return False

    def _wait_to_retry(self, delay: float) -> bool:
        """Wait out one backoff step (True when stopped meanwhile). A server that did not answer during the wait and
        answers now ends the wait early: a camera that comes back is reopened within PROBE_EVERY_S, not after the
        long steps of the schedule, while one whose server stays up but refuses the stream keeps the full backoff."""
        if not self.probes_server:
            return self._stop.wait(delay)
        deadline = time.monotonic() + delay
        was_down = False
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.wait(min(left, PROBE_EVERY_S)):
                return True
            if deadline - time.monotonic() <= 0:
                break
            answers = self._server_answers()
            if answers and was_down:
                log.info("%s source: the server answers again; reconnecting now", self.kind)
                return False
            was_down = was_down or not answers
        return self._stop.is_set()

    def _emit(self, image: np.ndarray | Picture, pts: float | None = None, truth_depth: np.ndarray | None = None,
              capture_wall: float | None = None) -> None:
        """Hand one frame to the slot (the hot path). `image`: an H x W x 3 uint8 BGR array this source owns, or a
        Picture that converts on demand. `capture_wall`: when the picture was taken, if the source knows better than
        "now" (a recording's stamp)."""
        mono = time.monotonic()
        self._seq += 1
        picture = image if isinstance(image, Picture) else Picture.of(image)
        frame = CapturedFrame(seq=self._seq, picture=picture, capture_wall=time.time() if capture_wall is None
                              else capture_wall, capture_mono=mono, pts=pts, truth_depth=truth_depth)
        stats = self.stats
        stats.frames += 1
        stats.last_frame_mono = mono
        self._rate.tick(mono)
        if stats.state != "live":
            self._set_state("live", "")
        if not self.lossless:
            self.frames.put(frame)
        else:
            while not self.frames.offer(frame, 0.1):  # back-pressure: the decoder waits for the network
                if self._stop.is_set() or self.frames.closed:
                    return
        if self.gated and not self.gate.is_set():
            while not self.gate.wait(0.1) and not self._stop.is_set():
                pass
            self.frames.wait_empty(1.0)  # the first frame, kept through the warm-up, goes to the network first

    def _note_format(self, width: int, height: int, pix_fmt: str) -> None:
        stats = self.stats
        if (width, height) != (stats.width, stats.height) and stats.width:
            stats.resolution_changes += 1
            log.info("%s source: resolution %dx%d -> %dx%d", self.kind, stats.width, stats.height, width, height)
        stats.width, stats.height, stats.pix_fmt = width, height, pix_fmt

    def _set_state(self, state: State, reason: str) -> None:
        stats = self.stats
        if state != stats.state:
            stats.state_since = time.monotonic()
        if (state, reason) != (stats.state, stats.reason):
            level = logging.WARNING if state == "offline" else logging.INFO
            log.log(level, "%s source %s%s", self.kind, state, f": {reason}" if reason else "")
        stats.state, stats.reason = state, reason
