"""Preview window for a running daemon: `run_viewer("tcp://127.0.0.1:5555")` or `run_viewer("http://127.0.0.1:8080/")`.

Reading is kept apart from the window: `open_reader(source)` gives a reader whose `read(timeout)` returns the next
BGR image or None (ZMQ `color` or `depth` topic, or an MJPEG stream), testable without a display; `run_viewer`
only shows what the reader returns. `q` or Esc quits.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from streamer.client.mjpeg import MjpegStream, StreamError
from streamer.client.subscriber import DepthSubscriber
from streamer.core.handoff import LatestSlot
from streamer.render.no_signal import render_no_signal


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
    """JPEG parts of an MJPEG stream. A thread reads the stream as fast as the server sends and keeps only the newest
    image, so `read(timeout)` never throttles the stream (a socket timeout per read used to close the connection
    on every lull). After a dropped connection the thread reconnects at most once a second, so a restarted
    daemon is picked up again."""

    def __init__(self, url: str, *, view: str | None = None, token: str | None = None) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ViewerError(f"not an http(s) URL: {url!r}")
        path = u.path if u.path not in ("", "/") or u.query else "/stream.mjpg"
        query = "&".join(q for q in (u.query, f"view={view}" if view else "") if q)
        self._stream = MjpegStream(urlunsplit((u.scheme, u.netloc, path, query, "")), token=token)
        self._slot: LatestSlot[np.ndarray] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""  # why the last connection failed or ended, for a no-signal frame

    def open(self, timeout: float = 5.0) -> None:
        """Connect and check the response is an MJPEG stream (ViewerError says why not), then read in a thread."""
        self.close()
        self._stream.timeout = max(timeout, 1.0)
        try:
            self._stream.open()
        except StreamError as e:
            raise ViewerError(str(e)) from None
        self._start_thread()

    def _start_thread(self) -> None:
        self._stop = threading.Event()
        self._slot = LatestSlot()
        self._thread = threading.Thread(target=self._run, name="mjpeg-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            try:
                _, jpeg = self._stream.next_part()
            except (OSError, ValueError) as e:  # ended, reset, timed out or malformed: reconnect
                self.error = str(e)
                self._stream.close()
                while not stop.wait(1.0):
                    try:
                        self._stream.open()
                        break
                    except StreamError as e2:
                        self.error = str(e2)
                continue
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                self._slot.put(image)
        self._stream.close()

    def read(self, timeout: float) -> np.ndarray | None:
        """The newest image not yet returned, waiting up to `timeout` s; None when none came."""
        if self._thread is None:
            try:
                self.open(timeout)
            except ViewerError as e:
                self.error = str(e)
                time.sleep(min(timeout, 1.0))
                return None
        return self._slot.get(timeout)

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self._stream.close()


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
        sized = False
        while True:
            image = reader.read(0.03)  # the window's event loop needs waitKey often; frames queue in the reader
            now = time.monotonic()
            if image is not None:
                last_frame = now
                if not sized:  # open at the stream's own size, not OpenCV's 400x300 default
                    cv2.resizeWindow(window, image.shape[1], image.shape[0])
                    sized = True
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
