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

import zmq

from streamer.errors import ListenError
from streamer.geometry.anchors import AnchorSet
from streamer.publish.wire import ANCHORS_TOPIC, decode

log = logging.getLogger(__name__)


class AnchorReceiver:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._latest: AnchorSet | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self.received = 0
        self.refused = 0
        self.last_error = ""

    def start(self) -> None:
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 16)
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

    def snapshot(self) -> dict:
        return {"endpoint": self.endpoint, "received": self.received, "refused": self.refused,
                "last_error": self.last_error}

    def _run(self) -> None:
        assert self._sock is not None and self._ctx is not None
        try:
            while not self._stop.is_set():
                if not self._sock.poll(100):
                    continue
                parts = self._sock.recv_multipart()
                try:
                    anchors = parse(parts)
                except (ValueError, KeyError, TypeError) as exc:
                    self.refused += 1
                    if str(exc) != self.last_error:
                        log.warning("anchors refused: %s", exc)
                    self.last_error = str(exc)
                    continue
                self.received += 1
                with self._lock:
                    self._latest = anchors
        finally:
            self._sock.close(linger=0)
            self._ctx.term()


def parse(parts: list) -> AnchorSet:
    """One `anchors` message -> AnchorSet; ValueError naming what is wrong (the anchors themselves are checked
    one by one against the frame later, where the image size is known)."""
    _, header, payload = decode(parts)
    sender = str(header.get("sender", ""))[:64]
    who = f"anchors from {sender!r}" if sender else "anchors"
    wall = header.get("capture_wall")
    if not isinstance(wall, (int, float)) or isinstance(wall, bool) or not math.isfinite(wall):
        raise ValueError(f"{who}: header capture_wall (time.time() of the measurement) missing or not a number")
    width, height = header.get("width", 0), header.get("height", 0)
    if not all(isinstance(x, int) and x >= 0 for x in (width, height)) or (width == 0) != (height == 0):
        raise ValueError(f"{who}: width/height must be whole numbers >= 0, both or neither")
    items = payload.tolist() if hasattr(payload, "tolist") else payload
    if not isinstance(items, list):
        raise ValueError(f"{who}: payload must be a list of [u, v, metres]")
    try:
        return AnchorSet.parse(items, width=width, height=height, capture_wall=float(wall), sender=sender)
    except ValueError as exc:
        raise ValueError(f"{who}: {exc}") from None
