"""Test helpers around real processes: the GStreamer RTSP server in tests/sources/rtsp/server.py and a junk TCP server.

`RtspServer` runs server.py under the SYSTEM python (which has Debian's GStreamer RTSP bindings; the venv has not)
and talks to it with signals and the event lines it prints. It starts no threads: stdout is read with `select` in
the calling thread, so the leak test counts this process's threads and fds without counting the harness.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.sources.source_helpers import TcpServer, wait_for  # noqa: F401 (re-exported for the RTSP tests)

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
VIDEO = (HERE.parents[2].parent / "shared" / "fixtures" / "video" / "cockatoo_640x480.mp4").resolve()
START_TIMEOUT_S = 15.0  # GStreamer's first plugin-registry scan on a fresh machine takes a few seconds
SIGNAL_TIMEOUT_S = 5.0


def gst_rtsp_problem() -> str | None:
    """Why the RTSP server cannot run here, or None when the system python has GStreamer's RTSP server bindings."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "missing = [e for e in ('x264enc', 'avdec_h264', 'qtdemux', 'h264parse', 'appsrc', 'appsink', "
             "'rtph264pay', 'videoconvert') if Gst.ElementFactory.find(e) is None]; "
             "assert not missing, 'missing GStreamer elements: ' + ', '.join(missing)")
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} cannot run: {exc}"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    if not VIDEO.is_file():
        return f"video fixture not found: {VIDEO} (the shared/ folder must sit beside the repo)"
    return None


class RtspServer:
    """One server.py process at a time on a fixed port: start, kill (SIGKILL), restart, stall, resume, close."""

    def __init__(self, video: Path = VIDEO, path: str = "/cam") -> None:
        self.video = video
        self.path = path
        self.port = 0  # 0 until the first start; then kept, so a restart comes back where clients look
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="rtsp-server-", suffix=".log", delete=False)
        self._log.close()
        self._buffer = b""

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> RtspServer:
        """Start on self.port (any free port the first time) and wait for its READY line."""
        if self.alive:
            raise RuntimeError("RTSP server already running")
        deadline = time.monotonic() + timeout
        while True:  # the old process's port can linger for a moment after a kill: retry a failed bind
            with open(self._log.name, "ab") as log:
                self.process = subprocess.Popen(
                    [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--path", self.path,
                     "--video", str(self.video)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, close_fds=True)
            self._buffer = b""
            line = self._wait_line("READY", max(deadline - time.monotonic(), 0.1))
            if line is not None:
                self.port = int(line.split()[1].partition("=")[2])
                return self
            self._reap()
            if time.monotonic() >= deadline:
                raise RuntimeError(f"RTSP server not ready within {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, like a camera losing power: no goodbye on the wire, the kernel just closes the sockets."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._reap()

    def restart(self, timeout: float = START_TIMEOUT_S) -> RtspServer:
        self.kill()
        return self.start(timeout)

    def stall(self) -> None:
        """Stop sending pictures while keeping the RTSP session and its TCP connection open."""
        self._signal(signal.SIGUSR1, "STALLED")

    def resume(self) -> None:
        self._signal(signal.SIGUSR2, "RESUMED")

    def close(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit promptly; remove the log. Safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()
        Path(self._log.name).unlink(missing_ok=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals --------------------------------------------------------------------------------------------
    def _signal(self, signum: int, ack: str) -> None:
        if not self.alive:
            raise RuntimeError("RTSP server is not running")
        self.process.send_signal(signum)
        if self._wait_line(ack, SIGNAL_TIMEOUT_S) is None:
            raise RuntimeError(f"RTSP server did not answer {signal.Signals(signum).name}:\n{self.log_tail()}")

    def _wait_line(self, prefix: str, timeout: float) -> str | None:
        """The first stdout line starting with `prefix` within `timeout` s; None on timeout or exit."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\n", 1)
                line = raw.decode(errors="replace").strip()
                if line.startswith(prefix):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None  # the process closed stdout: it exited
                self._buffer += chunk

    def _reap(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5.0)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


class JunkServer(TcpServer):
    """A plain TCP server on 127.0.0.1 that answers every connection with `payload` bytes and closes it."""

    def __init__(self, payload: bytes | Callable[[bytes], bytes]) -> None:
        def answer(conn: socket.socket) -> None:
            request = conn.recv(4096)
            conn.sendall(payload(request) if callable(payload) else payload)

        super().__init__(answer)
