"""What the Foxglove SDK's server tells the publisher: who subscribes to which channel (its listener), and what it
drops for slow clients and how many connect (its log, the only place it says so)."""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from foxglove.websocket import ChannelView, Client, ServerListener

log = logging.getLogger("streamer.publish.foxglove")


class Subscriptions(ServerListener):
    """The server listener: how many client subscriptions each channel id has (called from the SDK's threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self.clients: set[int] = set()

    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        with self._lock:
            self._counts[channel.id] = self._counts.get(channel.id, 0) + 1
            self.clients.add(client.id)

    def on_unsubscribe(self, client: Client, channel: ChannelView) -> None:
        with self._lock:
            self._counts[channel.id] = max(0, self._counts.get(channel.id, 0) - 1)

    def wanted(self, channel_id: int) -> bool:
        return self._counts.get(channel_id, 0) > 0

    def total(self, ids: Iterable[int] | None = None) -> int:
        """Subscriptions to the channels `ids` (every channel's when None)."""
        with self._lock:
            if ids is None:
                return sum(self._counts.values())
            return sum(self._counts.get(i, 0) for i in ids)


SDK_LOGGER = "foxglove"  # the SDK's Rust log arrives through Python logging under this name
_DROPPED = re.compile(r"(\d+) dropped since last warning")


class SdkLog(logging.Handler):
    """The SDK's own log, read instead of passed on: it says what it drops for slow clients only here ("outbox for
    client ... full", later "... (N dropped since last warning)"), and it writes three INFO lines per connection
    (600 connects were 2 600 lines). Counted: clients that connected, and messages dropped (at least one per
    overflow it reports, N where it says N); passed on to our log: its warnings and errors, which it rate-limits."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.connections = 0
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted: nothing to count
            return
        if text.startswith("Registered client"):
            self.connections += 1
        elif "full" in text and ("outbox" in text or "queue" in text):
            found = _DROPPED.search(text)
            self.dropped += int(found.group(1)) if found else 1
        elif record.levelno >= logging.WARNING:
            log.log(record.levelno, "foxglove sdk: %s", text)
