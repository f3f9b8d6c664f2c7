"""ZmqHub: the one XPUB socket every stream's ZmqPublisher sends on (a ZeroMQ socket is not thread-safe: one lock).

It works like this: each stream's publisher thread renders and sends its own messages; the hub serialises the sends
and the reading of subscriptions (XPUB tells the first subscription to a prefix and the last unsubscription), which
every stream's publisher asks about (`wanted`) to build only what someone subscribed to. The first publisher to open
the hub binds it, the last to close it closes it, so a reload that keeps some streams keeps the socket. The imagezmq
endpoint shares its socket between streams the same way (`ImageZmqHub`: a plain PUB socket, imagezmq's layout).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np
import zmq

from streamer.publish.base import bind_zmq, close_zmq
from streamer.publish.exposure import warn_if_exposed

log = logging.getLogger(__name__)


class ZmqHub:
    def __init__(self, host: str, port: int, hwm: int) -> None:
        """`hwm`: messages ZeroMQ queues per subscriber (every stream's frame topics and heartbeats together)."""
        self.host, self.port, self.hwm = host, port, hwm
        self._lock = threading.Lock()
        self._users = 0
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self.endpoint = ""  # the address actually bound, e.g. tcp://127.0.0.1:5555
        self._subscribed: set[bytes] = set()

    def open(self) -> None:
        """Bind on the first call (OSError naming the address), count the others."""
        with self._lock:
            if self._users == 0:
                self._bind()
                self._subscribed.clear()
            self._users += 1

    def _bind(self) -> None:
        # XPUB rather than PUB: same wire behaviour for subscribers, but we also hear their (un)subscriptions,
        # which is how pause_when_idle (and lazy encoding) know whether anyone wants frames.
        self._ctx, self._sock, self.endpoint = bind_zmq(zmq.XPUB, self.host, self.port, self.hwm, "zmq")
        log.info("zmq: publishing on %s", self.endpoint)
        warn_if_exposed(log, f"zmq: {self.endpoint}", self.host,
                        "every depth array, the colorized camera view and the status topic (pipeline and "
                        "source details); ZeroMQ has no authentication here",
                        'Set [zmq] host = "127.0.0.1" unless every machine on that network may see the camera.')

    def close(self) -> None:
        """Close the socket when the last user lets go (dropping unsent messages: linger 0)."""
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            close_zmq(self._ctx, self._sock)
            self._ctx = self._sock = None

    def wanted(self, topic: bytes, counts: Callable[[bytes], bool] | None = None) -> bool:
        """Someone subscribed to a prefix of `topic` (reads the subscriptions that came in meanwhile first); with
        `counts`, only prefixes it accepts count."""
        with self._lock:
            self._drain()
            return any(topic.startswith(p) and (counts is None or counts(p)) for p in self._subscribed)

    def _drain(self) -> None:
        while self._sock is not None:
            try:
                msg = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self._subscribed.add(msg[1:])
            elif msg[:1] == b"\x00":
                self._subscribed.discard(msg[1:])

    def send(self, topic: bytes, header: bytes, payload: bytes | np.ndarray) -> bool:
        """One [topic, header, payload] message, never waiting: False when ZeroMQ refused it (or it is closed)."""
        return self.send_parts([topic, header, payload])

    def send_parts(self, parts: list[bytes | np.ndarray]) -> bool:
        """One multipart message, never waiting: False when ZeroMQ refused it (or the socket is closed)."""
        with self._lock:
            if self._sock is None:
                return False
            try:
                # ndarray is a buffer; numpy declares __buffer__ only for Python >= 3.12
                self._sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)  # type: ignore[arg-type]
                return True
            except zmq.Again:  # a PUB socket drops rather than refuses, but never wait if it ever does
                return False
