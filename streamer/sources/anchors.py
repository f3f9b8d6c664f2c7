"""AnchorReceiver: the `anchors` topic other processes send known depths on ([metric] mode = "points", WIRE.md).

It works like this: a SUB socket bound to [metric] anchors_endpoint (senders connect a PUB socket to it, so any
number of rangefinders, ToF sensors or tag detectors can feed one daemon); its own thread decodes each message and
keeps only the newest valid set (latest wins, like every hand-off here). A malformed message is refused with a
message naming what is wrong and counted; it never reaches the fit and never stops the thread.
"""
from __future__ import annotations

import logging
import math
import threading

import numpy as np
import zmq

from streamer.errors import ListenError
from streamer.geometry.anchors import AnchorSet
from streamer.publish.wire import ANCHORS_TOPIC, decode

log = logging.getLogger(__name__)


MAX_SIDE = 65535  # no image u, v refer to is wider or taller: a width of 10**400 is refused, never computed with
ROW_BYTES = 64  # the most one anchor takes on the wire ("json": [1234.567, 890.123, 12.345] with separators)
HEADER_BYTES = 4096  # the largest header accepted (the fields WIRE.md lists take ~200 bytes)


def max_message_bytes(max_anchors: int) -> int:
    """ZeroMQ MAXMSGSIZE for the anchors socket: no part of a message can be larger than a header or a payload of
    `max_anchors` anchors; ZeroMQ drops a larger message (and that sender's connection, which it reconnects) before
    it is buffered, so a 200 MB message costs nothing."""
    return max(HEADER_BYTES, ROW_BYTES * max_anchors + 1024)


class AnchorReceiver:
    """Supervised: nothing a sender does ends the thread. A message that cannot be used is refused, counted and
    logged (once per distinct reason); an unexpected error is logged once with its traceback, counted in
    `errors` and the thread goes on with the next message. Should the thread end anyway (its socket broke),
    `problem()` says so and the daemon is not healthy."""

    def __init__(self, endpoint: str, max_anchors: int = 10000) -> None:
        self.endpoint = endpoint
        self.max_anchors = max_anchors
        self._lock = threading.Lock()
        self._latest: AnchorSet | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self.received = 0
        self.refused = 0
        self.errors = 0  # unexpected errors survived (each kind logged once with its traceback)
        self.last_error = ""
        self.dead = ""  # why the thread ended while it should run ("" while it runs or was stopped)
        self._logged: set[str] = set()

    def start(self) -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 16)
        self._sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes(self.max_anchors))
        self._sock.setsockopt(zmq.SUBSCRIBE, ANCHORS_TOPIC.encode())
        try:
            self._sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._sock.close()
            self._ctx.term()
            raise ListenError(f"cannot bind the anchors endpoint {self.endpoint} ([metric] anchors_endpoint): {exc}; "
                              "choose another address or stop the other process") from None
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._thread = threading.Thread(target=self._run, name="anchors", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def latest(self) -> AnchorSet | None:
        with self._lock:
            return self._latest

    def problem(self) -> str:
        """Why the feed cannot deliver anchors any more ("" while its thread runs)."""
        if self.dead:
            return self.dead
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            return "the anchors receiver thread ended"
        return ""

    def snapshot(self) -> dict:
        return {"endpoint": self.endpoint, "received": self.received, "refused": self.refused, "errors": self.errors,
                "last_error": self.last_error, "max_anchors": self.max_anchors, "alive": not self.problem()}

    def _run(self) -> None:
        assert self._sock is not None and self._ctx is not None
        terminated = False  # the context was ended under us: whoever ended it is waiting in its term()
        try:
            while not self._stop.is_set():
                if not self._sock.poll(100):
                    continue
                self._take(self._sock.recv_multipart(copy=False))
        except Exception as exc:  # the socket itself broke: nothing more can arrive; every channel says so
            terminated = isinstance(exc, zmq.ContextTerminated)
            self.dead = f"anchors receiver stopped: {type(exc).__name__}: {exc}"
            log.exception("anchors receiver stopped (no more anchors will be received)")
        finally:
            self._sock.close(linger=0)
            if not terminated:
                self._ctx.term()

    def _take(self, frames: list) -> None:
        try:
            anchors = parse([f.buffer for f in frames], max_anchors=self.max_anchors)
        except ValueError as exc:
            self._refuse(str(exc))
            return
        except Exception as exc:  # a message we did not foresee: survive it, log its cause once per kind
            self.errors += 1
            key = type(exc).__name__
            if key not in self._logged:
                self._logged.add(key)
                log.exception("anchors message refused by an unexpected %s (the receiver goes on)", key)
            self._refuse(f"unexpected {key}: {exc!s:.200}", logged=True)
            return
        self.received += 1
        with self._lock:
            self._latest = anchors

    def _refuse(self, reason: str, logged: bool = False) -> None:
        self.refused += 1
        if reason != self.last_error and not logged:
            log.warning("anchors refused: %s", reason)
        self.last_error = reason


def parse(parts: list, max_anchors: int = 10000) -> AnchorSet:
    """One `anchors` message -> AnchorSet; ValueError naming what is wrong (the anchors themselves are checked
    one by one against the frame later, where the image size is known)."""
    _, header, payload = decode(parts, max_header_bytes=HEADER_BYTES, max_json_bytes=ROW_BYTES * max_anchors + 1024)
    sender = str(header.get("sender", ""))[:64]
    who = f"anchors from {sender!r}" if sender else "anchors"
    wall = header.get("capture_wall")
    if not isinstance(wall, (int, float)) or isinstance(wall, bool) or not math.isfinite(wall):
        raise ValueError(f"{who}: header capture_wall (time.time() of the measurement) missing or not a number")
    width, height = header.get("width", 0), header.get("height", 0)
    if (not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= MAX_SIDE for x in (width, height))
            or (width == 0) != (height == 0)):
        raise ValueError(f"{who}: width/height must be whole numbers from 0 to {MAX_SIDE}, both or neither")
    if isinstance(payload, np.ndarray):
        if payload.ndim != 2 or payload.shape[1] != 3 or payload.dtype.kind not in "iuf":
            raise ValueError(f"{who}: a raw payload must be N x 3 numbers (u, v, metres), got {payload.dtype} "
                             f"{payload.shape}")
        items: np.ndarray | list = payload
    elif isinstance(payload, list):
        items = payload
    else:
        raise ValueError(f"{who}: payload must be a list of [u, v, metres]")
    if len(items) > max_anchors:
        raise ValueError(f"{who}: {len(items)} anchors, over [metric] max_anchors = {max_anchors}")
    try:
        return AnchorSet.parse(items, width=width, height=height, capture_wall=float(wall), sender=sender)
    except ValueError as exc:
        raise ValueError(f"{who}: {exc}") from None
