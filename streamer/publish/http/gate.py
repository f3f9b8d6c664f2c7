"""UploadGate: how many photo uploads may be in progress at once (body held or computing), and what became of them."""
from __future__ import annotations

import threading

from streamer.core.stats import Samples


class UploadGate:
    """Bounds the uploads in progress (body held or computing) and counts them, for /stats."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._counts = {"active": 0, "done": 0, "busy": 0, "refused": 0, "failed": 0}
        self._ms = Samples(256)

    def enter(self) -> bool:
        with self._lock:
            if self._counts["active"] >= self.limit:
                self._counts["busy"] += 1
                return False
            self._counts["active"] += 1
            return True

    def leave(self, outcome: str, ms: float | None = None) -> None:
        with self._lock:
            self._counts["active"] -= 1
            self._counts[outcome] += 1
            if ms is not None:
                self._ms.add(ms)

    def count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def stats(self) -> dict:
        with self._lock:
            return {**self._counts, "limit": self.limit, "compute_ms": self._ms.percentiles()}
