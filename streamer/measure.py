"""Measuring a running daemon from outside, as an operator would: free ports, /stats over HTTP, /proc, percentiles.

Shared by the benchmarks (`bench --pipeline`, `bench --soak`); Linux only (/proc).
"""
from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import numpy as np


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick; the tiny race until the daemon binds is fine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_stats(port: int, timeout: float = 5.0) -> dict:
    """The daemon's /stats JSON (see streamer/daemon.py `Pipeline.snapshot`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=timeout) as response:
        return json.loads(response.read())


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as {field: value}; empty when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def rss_mb(pid: int) -> float:
    value = proc_status(pid).get("VmRSS")
    return int(value.split()[0]) / 1024 if value else float("nan")


def thread_count(pid: int) -> int | None:
    value = proc_status(pid).get("Threads")
    return int(value) if value else None


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # gone, or not ours to read
        return None


def load_1m() -> float | None:
    """The host's 1-minute load average: on a shared machine, the context every rate needs."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pcts(values_ms: list[float]) -> dict:
    if not values_ms:
        return {}
    arr = np.asarray(values_ms)
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 90, 99)}
