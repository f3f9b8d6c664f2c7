"""The publisher contract: `publish(frame)` drops the frame in a latest-wins slot and returns at once; the
publisher's own thread takes the newest frame and does the slow part (render, encode, send).

It works like this: `start(status)` hands the publisher the pipeline's status board (its one view of the rest of
the pipeline: health, the no-signal reason, /stats) and runs `_open()` in the caller (so a port already in use fails
there, loudly); then a daemon worker loops `frame = slot.get(poll_s)` -> `_send(frame)` -> `_tick()` until `stop()`,
and calls `_close()` on its way out, so sockets are closed by the thread that used them. Nothing is raised out of
the worker: errors are logged and counted.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from streamer.config.net import zmq_endpoint
from streamer.core.frame import DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.status import PipelineStatus
from streamer.errors import ListenError

log = logging.getLogger(__name__)


class Publisher:
    """Base for every publisher: owns the slot, the worker thread, the running check and the counters.

    Subclasses fill `_open` (caller's thread), `_send(frame)` (worker, newest frame only), `_tick` (worker, after
    every frame or `poll_s` without one: heartbeats) and `_close` (worker, once, on the way out)."""

    section = ""  # the config section of its options (host, port), for error messages
    options: Any
    poll_s = 0.1  # longest the worker sleeps without frames: bounds heartbeat jitter and stop latency

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()  # serialises start/stop
        self._slot: LatestSlot[DepthFrame] = self._new_slot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status: PipelineStatus | None = None  # the pipeline's status board, from `start` (None: standalone)
        # Plain counters written only by the worker thread.
        self.sent = 0  # frames handed to the transport
        self.send_drops = 0  # frames the transport refused (e.g. zmq.Again)
        self.errors = 0  # frames or ticks that raised
        self.last_error = ""  # the newest of those, in one line
        self._logged: set[str] = set()  # exception kinds logged with a traceback already

    def start(self, status: PipelineStatus | None = None) -> None:
        """Bind and run; `status`: what the pipeline's board says (health, no signal, /stats), None standalone."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{self.name}: already started")
            self.status = status
            self._stop.clear()
            self._slot = self._new_slot()
            try:
                self._open()  # binds now, in the caller: a taken port fails here, before any camera opens
            except (OSError, zmq.ZMQError) as exc:
                # Name the listener: "[Errno 98] Address already in use" alone does not say which of the ports.
                o, section = self.options, self.section
                raise ListenError(f"cannot listen on {o.host}:{o.port} ([{section}] port): {exc}. Another "
                                  f"depth-streamer (or another program) holds the port; choose another [{section}] "
                                  f"port or stop the other process") from None
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the worker, waiting up to `timeout` s; True when it has finished (and closed its sockets)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return True
            self._stop.set()
            self._slot.close()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s: worker still busy %.1f s after stop", self.name, timeout)
            return False
        return True

    def publish(self, frame: DepthFrame) -> None:
        """Hot path: never blocks; an older frame the worker has not taken yet is replaced and counted as dropped."""
        self._slot.put(frame)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def dead(self) -> bool:
        """Started, not stopped, and its thread ended anyway: nothing more goes out here (never healthy then)."""
        thread = self._thread
        return thread is not None and not thread.is_alive()

    @property
    def published(self) -> int:
        return self._slot.put_count

    @property
    def dropped(self) -> int:
        return self._slot.dropped + self.send_drops

    def audience(self) -> int:
        """How many consumers want frames right now (subscribed topics, watching viewers); 0 = nobody."""
        return 0

    def counters(self) -> dict:
        return {"published": self.published, "sent": self.sent, "dropped": self.dropped, "errors": self.errors}

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._slot.get(self.poll_s)
                try:
                    if frame is not None and not self._stop.is_set():
                        self._send(frame)
                    self._tick()
                except Exception as exc:  # supervised: counted, logged with its traceback once per kind, goes on
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc!s:.200}"
                    if type(exc).__name__ not in self._logged:
                        self._logged.add(type(exc).__name__)
                        log.exception("%s: publishing failed (counted in errors; logged once per kind)", self.name)
        finally:
            try:
                self._close()
            except Exception:
                log.exception("%s: closing failed", self.name)

    def _new_slot(self) -> LatestSlot[DepthFrame]:
        """The hand-off `publish` puts into: newest wins (a recorder overrides it with a bounded FIFO)."""
        return LatestSlot()

    def _open(self) -> None:
        pass

    def _send(self, frame: DepthFrame) -> None:
        raise NotImplementedError

    def _tick(self) -> None:
        pass

    def _close(self) -> None:
        pass


def bind_zmq(kind: int, host: str, port: int, hwm: int, label: str) -> tuple[zmq.Context, zmq.Socket, str]:
    """A publishing socket of `kind` bound to host:port (0 = any free port): (context, socket, actual endpoint).

    Linger 0 (never hold up shutdown for unsent frames), a small send high-water mark (a slow subscriber loses
    frames instead of growing our memory), and ZMTP heartbeats so subscribers that vanished without closing
    (pulled cable, frozen host) are noticed. A bind failure is an OSError naming the address."""
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
    try:
        sock.bind(zmq_endpoint(host, port))
    except zmq.ZMQError as e:
        sock.close()
        ctx.term()
        raise OSError(f"{label}: cannot bind {host}:{port}: {e}") from e
    return ctx, sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)


def close_zmq(ctx: zmq.Context | None, sock: zmq.Socket | None) -> None:
    """Close what `bind_zmq` opened, dropping unsent messages (linger 0): shutdown never waits for a subscriber."""
    if sock is not None:
        sock.close(linger=0)
    if ctx is not None:
        ctx.term()
