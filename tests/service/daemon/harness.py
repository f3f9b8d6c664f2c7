"""A real `depth-streamer run` subprocess on free ports, and small real clients to talk to it (HTTP, MJPEG, sd_notify).

Nothing here is mocked: the daemon is started the way systemd starts it, and every wait has a deadline, so a
daemon that never gets ready, hangs or dies fails the test with its log instead of hanging the suite.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import zmq

from streamer.tools import measure
from streamer.tools.measure import free_port
from tests.conftest import MIDAS, REPO, SEED_WEIGHTS, VIDEO, subprocess_env

COCKATOO = VIDEO / "cockatoo_640x480.mp4"  # 640x480, 20 fps, 14 s
REALSHORT = VIDEO / "realshort.mp4"  # 320x240, 36 frames
START_TIMEOUT_S = 90.0  # import torch + load weights + (first time per cache) ONNX export, on a busy 2-core box
HTTP_TIMEOUT_S = 5.0


def wait_until(check: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> object:
    """Poll `check` until it returns something truthy; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"not a decodable JPEG ({len(data)} bytes, starts {bytes(data[:4])!r})"
    return image


class DaemonProcess(measure.DaemonProcess):
    """`python -m streamer run` with the seed weights, free HTTP/ZeroMQ/imagezmq ports and the cockatoo clip: the
    benchmarks' DaemonProcess plus the waits and observations the tests need."""

    def __init__(self, *args: str, cache: Path, source: Path | str = COCKATOO, env: dict[str, str] | None = None,
                 drop_env: tuple[str, ...] = (), log_level: str = "info") -> None:
        self.imagezmq_port = free_port()
        run_env = subprocess_env(DEPTH_STREAMER_CACHE=str(cache), **(env or {}))
        for name in drop_env:
            run_env.pop(name, None)
        # fp32 unless a test asks otherwise: choosing a low precision builds int8 in the background (CPU for tens of
        # seconds), which only the precision tests are about; later --set items override this one.
        super().__init__(["--weights", str(SEED_WEIGHTS), "--source", str(source), "--set", "model.precision=fp32",
                          "--set", f"imagezmq.port={self.imagezmq_port}", *args], env=run_env, cwd=REPO,
                         log_level=log_level)

    def messages(self, topic: bytes, count: int, timeout_s: float = 20.0) -> list[list[bytes]]:
        """The next `count` [topic, header, payload] messages one real ZeroMQ subscriber receives on `topic`."""
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(self.zmq_endpoint)
        got: list[list[bytes]] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(got) < count:
                left = deadline - time.monotonic()
                assert left > 0 and sub.poll(int(left * 1000)), f"{len(got)} of {count} {topic.decode()} messages"
                got.append(sub.recv_multipart())
            return got
        finally:
            sub.close()
            ctx.term()

    def next_message(self, topic: bytes, timeout_s: float = 10.0) -> list[bytes]:
        """The next [topic, header, payload] a fresh real ZeroMQ subscriber receives on `topic`."""
        return self.messages(topic, 1, timeout_s)[0]

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until /healthz answers 200 (a depth frame has been published)."""
        self.wait_for(lambda: self._status_or_none("/healthz") == 200, timeout, "/healthz 200")

    def wait_for(self, check: Callable[[], object], timeout: float, what: str) -> object:
        """wait_until, failing at once (with the log) if the daemon exits meanwhile."""
        def step() -> object:
            if not self.alive():
                raise AssertionError(f"daemon exited ({self.proc and self.proc.returncode}) while waiting for "
                                     f"{what}:\n{self.log}")
            return check()
        try:
            return wait_until(step, timeout, what, every=0.1)
        except AssertionError as exc:
            if "timed out" in str(exc):
                raise AssertionError(f"{exc}\n--- daemon log ---\n{self.log}") from None
            raise

    def wait_log(self, pattern: str, timeout: float, after: int = 0) -> str:
        """The first log line (from line number `after` on) matching the regex `pattern`."""
        rx = re.compile(pattern)

        def find() -> str | None:
            return next((line for line in self.lines(after) if rx.search(line)), None)
        return str(self.wait_for(find, timeout, f"log line /{pattern}/"))

    # -- observation ---------------------------------------------------------------------------------------------
    @property
    def zmq_endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.zmq_port}"

    def http(self, path: str) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def _status_or_none(self, path: str) -> int | None:
        try:
            return self.http(path)[0]
        except OSError:
            return None

    def stats(self) -> dict:
        status, headers, body = self.http("/stats")
        assert status == 200 and headers["content-type"] == "application/json", (status, body[:200])
        return json.loads(body)

    def stats_or_none(self) -> dict | None:
        """/stats, or None while the daemon is not listening yet."""
        try:
            return self.stats()
        except OSError:
            return None

    def frames_out(self) -> int:
        return int(self.stats()["frames_out"])

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]
        return kb / 1024.0


def metric_daemon(cache: Path, mode: str, *extra: str) -> DaemonProcess:
    """A started daemon on the demo source at 10 fps with [metric] `mode`, on the trained proxy weights (random
    weights give no meaningful floor or fit)."""
    return DaemonProcess("--weights", str(MIDAS / "trained_proxy.pt"), "--set", f"metric.mode={mode}", "--set",
                         "source.fps=10", *extra, cache=cache, source="demo").start()


class MjpegReader:
    """A real HTTP client of /stream.mjpg that parses multipart parts strictly (boundary, headers, length)."""

    def __init__(self, port: int, path: str = "/stream.mjpg", timeout: float = HTTP_TIMEOUT_S) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        self.content_type = self.response.getheader("Content-Type", "")
        match = re.fullmatch(r"multipart/x-mixed-replace;\s*boundary=(\S+)", self.content_type)
        self.boundary = match.group(1) if match else ""

    def part(self) -> tuple[dict[str, str], bytes]:
        """The next part: (its headers, lower-cased names; its body), checked against the multipart framing."""
        fp = self.response.fp
        line = fp.readline()
        assert line == f"--{self.boundary}\r\n".encode(), f"expected the boundary line, got {line[:80]!r}"
        headers: dict[str, str] = {}
        while True:
            line = fp.readline()
            assert line.endswith(b"\r\n"), f"truncated part header {line[:80]!r}"
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        body = fp.read(length)
        assert len(body) == length, f"part body {len(body)} bytes, Content-Length said {length}"
        assert fp.read(2) == b"\r\n", "part body not followed by CRLF (Content-Length wrong?)"
        return headers, body

    def close(self) -> None:
        self.conn.close()


def stalled_http_client(port: int, path: str = "/stream.mjpg") -> socket.socket:
    """Opens the stream and never reads: a tiny receive buffer so the server's writes block soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


class NotifyListener:
    """The systemd side of sd_notify: a real AF_UNIX datagram socket; every message is kept with its arrival time."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self.on_message: Callable[[str], None] | None = None  # runs in the listener thread, as each arrives
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode()
            if self.on_message is not None:
                self.on_message(text)
            with self._lock:
                self.messages.append((time.monotonic(), text))

    def lines(self, since: float = 0.0) -> list[str]:
        """Every `KEY=value` line received at or after monotonic time `since`, in order."""
        with self._lock:
            return [line for t, text in self.messages if t >= since for line in text.split("\n")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        os.unlink(self.path)
