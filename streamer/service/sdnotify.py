"""The systemd notify protocol: one datagram to $NOTIFY_SOCKET per message (READY=1, WATCHDOG=1, STATUS=...).

Dependency-free on purpose; a no-op when not started by systemd, so the daemon runs the same by hand.
"""
from __future__ import annotations

import logging
import os
import socket

from streamer.core.redact import redact

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        self._address = address
        if address:
            if address.startswith("@"):  # abstract namespace socket
                self._address = "\0" + address[1:]
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def watchdog_interval(self) -> float | None:
        """Half of WatchdogSec= in seconds (systemd's advice), when systemd asked this process for pings."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2e6

    def notify(self, *lines: str) -> None:
        if self._sock is None:
            return
        try:
            # STATUS= is world-readable (systemctl status): no URL credential goes out in it.
            self._sock.sendto("\n".join(redact(line) for line in lines).encode(), self._address)
        except OSError as exc:  # systemd going away must never take the daemon with it
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def reloading(self) -> None:
        self.notify("RELOADING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
