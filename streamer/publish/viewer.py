"""Preview window for a running daemon: `run_viewer("tcp://127.0.0.1:5555")` or `run_viewer("http://127.0.0.1:8080/")`.

Reading is kept apart from the window: `open_reader(source)` gives a reader whose `read(timeout)` returns the next
BGR image or None (ZMQ `color` or `depth` topic, or an MJPEG stream), testable without a display; `run_viewer`
only shows what the reader returns. `q` or Esc quits.
"""
from __future__ import annotations

import base64
import http.client
import os
import socket
import sys
import time
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from streamer.publish.client import DepthSubscriber
from streamer.publish.mjpeg_server import render_no_signal


class ViewerError(RuntimeError):
    """Why the viewer cannot run (no display, unreachable or wrong source), worded for the user."""


def colorize_depth(depth: np.ndarray, depth_range: tuple[float, float]) -> np.ndarray:
    """Relative inverse depth -> BGR with the publisher's range (near = bright), for the `depth` topic."""
    lo, hi = depth_range
    scaled = np.clip((depth.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)


class ZmqFrameReader:
    """Newest image from a ZmqPublisher: the `color` JPEG, or the `depth` array colorized here."""

    def __init__(self, address: str, topic: str = "color") -> None:
        if topic not in ("color", "depth"):
            raise ViewerError(f"topic must be color or depth, not {topic!r}")
        self._sub = DepthSubscriber(address, topics=(topic,))

    def open(self) -> None:
        pass  # ZeroMQ connects in the background; a missing publisher just means no frames yet

    def read(self, timeout: float) -> np.ndarray | None:
        msg = self._sub.recv(timeout)
        if msg is None:
            return None
        topic, header, payload = msg
        if topic == "color":
            assert isinstance(payload, bytes)
            return cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
        assert isinstance(payload, np.ndarray)
        return colorize_depth(payload, tuple(header["depth_range"]))

    def close(self) -> None:
        self._sub.close()


class MjpegFrameReader:
    """JPEG parts of an MJPEG stream (multipart/x-mixed-replace). After a timeout or a dropped connection the
    next `read` reconnects (at most once a second), so a restarted daemon is picked up again."""

    def __init__(self, url: str, *, view: str | None = None, token: str | None = None) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ViewerError(f"not an http(s) URL: {url!r}")
        path = u.path if u.path not in ("", "/") or u.query else "/stream.mjpg"
        query = "&".join(q for q in (u.query, f"view={view}" if view else "") if q)
        self._url = url
        self._target = (u.scheme, u.hostname, u.port, path + (f"?{query}" if query else ""))
        self._headers = {"Accept": "multipart/x-mixed-replace, image/jpeg"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif u.username is not None:
            userpass = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(userpass).decode()
        self._sock: socket.socket | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._boundary = b""
        self._next_connect = 0.0

    def open(self, timeout: float = 5.0) -> None:
        """Connect and check the response is an MJPEG stream; ViewerError says why not."""
        self.close()
        scheme, host, port, target = self._target
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=timeout)
        try:
            conn.request("GET", target, headers=self._headers)
            sock = conn.sock  # http.client lets go of it once the response takes over; keep it for timeouts
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise ViewerError(f"cannot reach {self._url}: {e}") from e
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200 or "multipart/x-mixed-replace" not in ctype or "boundary=" not in ctype:
            detail = resp.read(200).decode("utf-8", "replace").strip()
            conn.close()
            raise ViewerError(f"{self._url}: HTTP {resp.status} {resp.reason}, {ctype or 'no content type'}"
                              f" - not an MJPEG stream{': ' + detail if detail else ''}")
        self._boundary = b"--" + ctype.split("boundary=", 1)[1].strip().strip('"').encode()
        self._sock, self._conn, self._resp = sock, conn, resp

    def read(self, timeout: float) -> np.ndarray | None:
        if self._resp is None:
            if time.monotonic() < self._next_connect:
                time.sleep(min(timeout, self._next_connect - time.monotonic()))
                return None
            self._next_connect = time.monotonic() + 1.0
            try:
                self.open(timeout=max(timeout, 1.0))
            except ViewerError:
                return None
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            jpeg = self._read_part()
        except (OSError, ValueError):  # timeout mid-stream or a broken part: resynchronise by reconnecting
            jpeg = None
        if jpeg is None:
            self.close()
            return None
        return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    def _read_part(self) -> bytes | None:
        resp = self._resp
        assert resp is not None
        line = resp.readline(1024)
        while not line.startswith(self._boundary):
            if not line:
                return None
            line = resp.readline(1024)
        length = None
        while (line := resp.readline(1024)) not in (b"\r\n", b"\n"):
            if not line:
                return None
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise ValueError("MJPEG part without Content-Length")
        data = resp.read(length)
        return data if len(data) == length else None

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
        if self._conn is not None:
            self._conn.close()
        self._sock = self._conn = self._resp = None


def open_reader(source: str, *, topic: str = "color", view: str | None = None,
                token: str | None = None) -> ZmqFrameReader | MjpegFrameReader:
    """A reader for `source`: tcp:// or ipc:// (ZmqPublisher) or http(s):// (MJPEG server)."""
    if source.startswith(("tcp://", "ipc://")):
        if view is not None:
            raise ViewerError("view applies to http sources; the ZMQ color topic carries the publisher's view")
        return ZmqFrameReader(source, topic)
    if source.startswith(("http://", "https://")):
        return MjpegFrameReader(source, view=view, token=token)
    raise ViewerError(f"source must be tcp://HOST:PORT (ZMQ) or http://HOST:PORT/ (MJPEG), not {source!r}")


def run_viewer(source: str, *, topic: str = "color", view: str | None = None, token: str | None = None,
               timeout_s: float = 5.0, window: str = "depth-streamer") -> None:
    """Show `source` in a window until `q`, Esc or the window is closed. Raises ViewerError when it cannot."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ViewerError("no display (DISPLAY and WAYLAND_DISPLAY are unset): use `ssh -X`, or open the MJPEG "
                          "page, e.g. http://127.0.0.1:8080/, in a browser")
    reader = open_reader(source, topic=topic, view=view, token=token)
    try:
        reader.open()
        try:
            cv2.namedWindow(window, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise ViewerError(f"OpenCV cannot open a window (headless build?): {e}") from e
        last_frame = time.monotonic()
        while True:
            image = reader.read(0.05)
            now = time.monotonic()
            if image is not None:
                last_frame = now
                cv2.imshow(window, image)
            elif now - last_frame > timeout_s:
                cv2.imshow(window, render_no_signal(f"no frames from {source} for {now - last_frame:.0f} s",
                                                    time.time()))
            if (cv2.waitKey(1) & 0xFF) in (ord("q"), 27):
                break
            if cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1:
                break  # closed with the window manager
    finally:
        reader.close()
        try:
            cv2.destroyWindow(window)
        except cv2.error:
            pass
