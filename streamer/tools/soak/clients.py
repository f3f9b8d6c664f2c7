"""The soak's load generators: MJPEG viewer threads and ZeroMQ subscriber threads (normal or deliberately slow)."""
from __future__ import annotations

import threading
import time

import zmq

from streamer.client.mjpeg import MjpegStream
from streamer.client.subscriber import MAX_MESSAGE_BYTES
from streamer.core import jsonlimit

READ_TIMEOUT_S = 5.0  # a client socket silent this long counts as dropped (the daemon sends 30 parts/s)
SLOW_PAUSE_S = 1.0  # the slow subscriber's sleep after each message: far slower than the daemon publishes


class MjpegViewer(threading.Thread):
    """A viewer holding /stream.mjpg open, counting JPEG parts; reconnects (counted) whenever the stream drops."""

    def __init__(self, port: int, stop: threading.Event, index: int) -> None:
        super().__init__(name=f"mjpeg-viewer-{index}", daemon=True)
        self.port, self.stop = port, stop
        self.parts = 0  # frames, and "no signal" frames, received
        self.reconnects = 0
        self.last_error = ""

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._watch()
            except (OSError, ValueError) as exc:  # refused, reset, timed out, or a malformed part
                self.last_error = repr(exc)
            if not self.stop.wait(0.5):
                self.reconnects += 1

    def _watch(self) -> None:
        stream = MjpegStream(f"http://127.0.0.1:{self.port}/stream.mjpg", timeout=READ_TIMEOUT_S).open()
        try:
            while not self.stop.is_set():
                stream.next_part()
                self.parts += 1
        finally:
            stream.close()


class ZmqReader(threading.Thread):
    """A SUB socket on every topic. With `pause_s` it is the deliberately slow subscriber: one message, then sleep."""

    def __init__(self, ctx: zmq.Context, port: int, stop: threading.Event, name: str, pause_s: float = 0.0) -> None:
        super().__init__(name=f"zmq-{name}", daemon=True)
        self.ctx, self.port, self.stop, self.pause_s = ctx, port, stop, pause_s
        self.messages = 0  # all topics
        self.frames = 0  # depth messages
        self.gaps = 0  # depth seq numbers skipped (dropped anywhere: pipeline or this socket)
        self.first_frame = threading.Event()
        self._last_seq: int | None = None
        self._lock = threading.Lock()  # guards the two lists below, swapped out by the sampler
        self._latency_ms: list[float] = []
        self._ages_s: list[float] = []

    def run(self) -> None:
        sock = self.ctx.socket(zmq.SUB)  # created, used and closed by this thread: zmq sockets are not thread-safe
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        try:
            while not self.stop.is_set():
                if sock.poll(200):
                    topic, header, _ = sock.recv_multipart(copy=False)
                    self._count(topic.bytes, jsonlimit.loads(header.bytes, what="header"))
                    if self.pause_s:
                        self.stop.wait(self.pause_s)
        finally:
            sock.close()

    def _count(self, topic: bytes, header: dict) -> None:
        self.messages += 1
        if topic != b"depth":
            return
        seq = header["seq"]
        if self._last_seq is not None and seq > self._last_seq + 1:
            self.gaps += seq - self._last_seq - 1
        self._last_seq = seq
        self.frames += 1
        with self._lock:  # both clocks are the daemon's monotonic clock on this host
            self._latency_ms.append((header["publish_mono"] - header["capture_mono"]) * 1e3)
            self._ages_s.append(time.monotonic() - header["capture_mono"])
        self.first_frame.set()

    def take(self) -> tuple[list[float], list[float]]:
        """(capture -> publish latencies in ms, capture -> received-here ages in s) since the last call."""
        with self._lock:
            out = self._latency_ms, self._ages_s
            self._latency_ms, self._ages_s = [], []
        return out
