"""Helpers for the source tests: media encoded with real PyAV, tiny local TCP servers, polling."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.sources import Source

FIXTURES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "video").resolve()  # beside the repo


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """RGB frame: a gradient, a moving square, and a pure red top-left block to check the channel order."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    rgb[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    rgb[..., 2] = (index * 8) % 256
    side = max(min(width, height) // 4, 2)
    x0 = (index * 5) % max(width - side, 1)
    rgb[height // 2: height // 2 + side, x0: x0 + side] = 255
    rgb[: height // 4, : width // 4] = (255, 0, 0)
    return rgb


def write_video(path: Path, *, width: int = 160, height: int = 120, frames: int = 30, fps: int = 30,
                codec: str = "libx264", pix_fmt: str = "yuv420p", gop: int = 10, audio_s: float = 0.0) -> Path:
    """Encode `frames` pattern frames into `path` (format from its suffix), plus silent mp2 audio for `audio_s`."""
    audio_samples = int(audio_s * 48000)
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.gop_size = gop
        if codec == "libx264":
            video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = out.add_stream("mp2", rate=48000, layout="mono") if audio_samples else None
        sent = 0  # audio samples muxed so far, kept just ahead of the video so the two interleave

        def mux_audio(until: int) -> None:
            nonlocal sent
            while audio is not None and sent < min(until, audio_samples):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 48000, sent, Fraction(1, 48000)
                out.mux(audio.encode(chunk))
                sent += 1152

        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            mux_audio((i + 1) * 48000 // fps)
        out.mux(video.encode(None))
        if audio is not None:
            mux_audio(audio_samples)
            out.mux(audio.encode(None))
    return path


class TcpServer:
    """A tiny TCP server on 127.0.0.1: each connection gets `handler(conn)` in its own daemon thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                self.handler(conn)
            except OSError:
                pass

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout` s pass (monotonic); returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(step)
    return True


def drain(source: Source, timeout: float = 10.0) -> list[CapturedFrame]:
    """Every frame the consumer gets until the source's slot closes (the source stopped or ended)."""
    got: list[CapturedFrame] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = source.frames.get(timeout=0.2)
        if frame is not None:
            got.append(frame)
        elif source.frames.closed:
            break
    return got
