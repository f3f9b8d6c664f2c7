"""Measuring a running daemon from outside, as an operator would: free ports, /stats over HTTP, /proc, percentiles.

Shared by the benchmarks (`bench pipeline`, `bench soak`) and the daemon tests; Linux only (/proc).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path

from streamer.core import jsonlimit
from streamer.core.stats import percentiles


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick; the tiny race until the daemon binds is fine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_stats(port: int, timeout: float = 5.0) -> dict:
    """The daemon's /stats JSON (see `streamer.pipeline.status.StatusBoard.snapshot`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=timeout) as response:
        return jsonlimit.loads(response.read(), what="/stats")


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as {field: value}; empty when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident MB now; field "VmHWM": the most the process has held resident since it started (its peak, exact
    whenever it is read, however briefly the peak lasted). NaN when the process is gone."""
    value = proc_status(pid).get(field)
    return int(value.split()[0]) / 1024 if value else float("nan")


RSS_GROUPS = (("openvino", "OpenVINO libraries"), ("onnxruntime", "ONNX Runtime library"), ("torch", "torch libraries"))


def rss_parts(pid: int) -> dict[str, float]:
    """Resident MB by kind of mapping, from /proc/PID/smaps: each engine's libraries (RSS_GROUPS), the other
    libraries (Python, OpenCV, PyAV, ...), and heap + anonymous memory (what the process allocated: compiled
    networks, engine buffers, frames, Python objects). Empty when the process is gone."""
    parts: dict[str, float] = {}
    name = "heap and anonymous"
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return parts
    for line in lines:
        fields = line.split()
        if fields and not fields[0].endswith(":"):  # a mapping's head: address perms offset dev inode [path]
            path = fields[5] if len(fields) > 5 else ""
            name = ("heap and anonymous" if not path.startswith("/") else
                    next((label for key, label in RSS_GROUPS if f"/{key}" in path.lower()),
                         "other libraries and files"))
        elif fields and fields[0] == "Rss:":
            parts[name] = parts.get(name, 0.0) + int(fields[1]) / 1024
    return {k: round(v, 1) for k, v in parts.items()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (both cores count), from /proc/PID/stat."""
    return _stat_cpu(Path(f"/proc/{pid}"))


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (the daemon names its threads: core/threads.py; same names add up, e.g. the
    engines' worker threads), from /proc/PID/task/*/stat."""
    out: dict[str, float] = {}
    try:
        tids = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for tid in tids:
        try:
            comm = (tid / "comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
        cpu = _stat_cpu(tid)
        if cpu == cpu:  # NaN: ended meanwhile
            out[comm] = out.get(comm, 0.0) + cpu
    return out


def _stat_cpu(proc: Path) -> float:
    """utime + stime in seconds from PROC/stat (a process's or one thread's); NaN when it is gone."""
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


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
    """p50/p90/p99 rounded to 0.1 ms ({} when there are none), as the benchmarks print them."""
    return percentiles(values_ms, ndigits=1) if values_ms else {}


def looping_video_args(video: str, weights: str | None, fps: float, *extra: str) -> list[str]:
    """`run` arguments for a file standing in for a camera: looping, paced at `fps`."""
    args = ["--source", video, "--set", "source.loop=true", "--set", f"source.pace_fps={fps}", *extra]
    return args + (["--weights", weights] if weights else [])


class DaemonProcess:
    """`depth-streamer run ARGS` in a subprocess on free HTTP and ZeroMQ ports, for benchmarks and tests to measure
    from outside, the way an operator would.

    Its stdout+stderr (the log) is drained by a thread, so the daemon never blocks on a full pipe; the last
    `keep_lines` lines are kept. In its own session, so a Ctrl-C reaches only the caller, which stops it in order;
    and told to get SIGTERM if the caller dies, so a killed run never leaves a looping daemon behind."""

    def __init__(self, args: list[str], *, log_level: str = "info", env: dict[str, str] | None = None,
                 cwd: str | Path | None = None, keep_lines: int = 20000) -> None:
        self.zmq_port, self.http_port = free_port(), free_port()
        self.argv = [sys.executable, "-m", "streamer", "--log-level", log_level, "run",
                     "--zmq-port", str(self.zmq_port), "--http-port", str(self.http_port), *args]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self._lines: deque[str] = deque(maxlen=keep_lines)
        self._seen = 0  # lines ever read, so line numbers stay stable when old ones are dropped
        self._lines_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def start(self) -> DaemonProcess:
        libc = ctypes.CDLL(None, use_errno=True)
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True,
                                     preexec_fn=lambda: libc.prctl(1, signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
        self._reader = threading.Thread(target=self._drain, name="daemon-log", daemon=True)
        self._reader.start()
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lines_lock:
                self._lines.append(line.rstrip("\n"))
                self._seen += 1

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def lines(self, after: int = 0) -> list[str]:
        """Log lines from line number `after` (counted from the start) on."""
        with self._lines_lock:
            first = self._seen - len(self._lines)
            return list(self._lines)[max(0, after - first):]

    @property
    def log(self) -> str:
        return "\n".join(self.lines())

    @property
    def log_lines(self) -> int:
        with self._lines_lock:
            return self._seen

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.lines()[-n:])

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> tuple[int | None, float]:
        """Send `sig` and wait for the exit: (exit status, or None if still running after `timeout`; seconds)."""
        assert self.proc is not None
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Teardown: SIGKILL if still running, then reap it and its log reader."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def close(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace_s`: the benchmarks' orderly end. Returns the exit status."""
        rc, _ = self.stop(signal.SIGTERM, grace_s)
        if rc is None:
            self.kill()
        return self.proc.returncode if self.proc is not None else None
