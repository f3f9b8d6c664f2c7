"""The preview server's open connections: a cap that idle sockets cannot use to lock out health checks.

It works like this: up to `max_connections` connections are admitted normally. When that many are open, the new one
takes the place of the oldest connection that has not yet sent a whole request head (an idle or trickling socket:
it is shut down), so seventy idle sockets cannot keep /healthz out. When every open connection has sent its head
(busy viewers and requests), the new one gets one of a few reserved seats, where only /healthz and /metrics are
served and its head must arrive within RESERVED_HEAD_S. Only when those are taken too is it refused with 503.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Literal

RESERVED_SEATS = 4
RESERVED_HEAD_S = 1.0  # a monitoring probe sends its request at once
RESERVED_PATHS = ("/healthz", "/metrics")  # what a reserved seat serves

Admission = Literal["normal", "reserved", "full"]


@dataclass
class _Conn:
    since: float
    reserved: bool
    head: bool = False  # a whole request head has arrived


class ConnectionTable:
    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, _Conn] = {}
        self.evicted = 0

    def admit(self, conn: socket.socket) -> Admission:
        """Admit `conn` (evicting an idle one if need be), or say it must be refused."""
        victim = None
        with self._lock:
            normal = [(c, s) for c, s in self._conns.items() if not s.reserved]
            if len(normal) >= self.max_connections:
                idle = [(s.since, i, c) for i, (c, s) in enumerate(normal) if not s.head]
                if idle:
                    victim = min(idle)[2]
                    del self._conns[victim]
                    self.evicted += 1
                elif sum(s.reserved for s in self._conns.values()) < RESERVED_SEATS:
                    self._conns[conn] = _Conn(time.monotonic(), reserved=True)
                    return "reserved"
                else:
                    return "full"
            self._conns[conn] = _Conn(time.monotonic(), reserved=False)
        if victim is not None:
            shut(victim)  # its handler's read returns at once and the thread ends
        return "normal"

    def head_received(self, conn: socket.socket) -> bool:
        """Mark `conn` busy (no longer evictable); False when it was evicted meanwhile."""
        with self._lock:
            state = self._conns.get(conn)
            if state is not None:
                state.head = True
            return state is not None

    def reserved(self, conn: socket.socket) -> bool:
        with self._lock:
            state = self._conns.get(conn)
            return state is not None and state.reserved

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._conns)

    def shut_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            shut(conn)


def shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
