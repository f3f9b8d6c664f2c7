"""Measuring a running daemon from outside, as an operator would: free ports, /stats over HTTP, /proc, percentiles.

Shared by the benchmarks (`bench --pipeline`, `bench --soak`); Linux only (/proc).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import deque
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


class DaemonProcess:
    """`depth-streamer run` looping `video` paced at `fps`, on free ports, for a benchmark to measure from outside.

    In its own session, so a Ctrl-C reaches only the benchmark, which stops it in order; and told to get SIGTERM
    if the benchmark dies, so a killed run never leaves a looping daemon behind. Its log is drained by a thread
    (a full pipe would block the daemon) and the tail kept to show if it dies."""

    def __init__(self, video: str, weights: str | None, fps: float, extra_args: list[str] | None = None,
                 stop_grace_s: float = 5.0) -> None:
        self.zmq_port, self.http_port = free_port(), free_port()
        self.stop_grace_s = stop_grace_s
        cmd = [sys.executable, "-m", "streamer", "--log-level", "warning", "run", "--source", video,
               "--set", "source.loop=true", "--set", f"source.pace_fps={fps}",
               "--zmq-port", str(self.zmq_port), "--http-port", str(self.http_port), *(extra_args or [])]
        if weights:
            cmd += ["--weights", weights]
        self.log_tail: deque[str] = deque(maxlen=30)
        libc = ctypes.CDLL(None, use_errno=True)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                     preexec_fn=lambda: libc.prctl(1, signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
        threading.Thread(target=self._drain, name="daemon-log", daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.log_tail.append(line.rstrip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(self.stop_grace_s)
        return self.proc.returncode
