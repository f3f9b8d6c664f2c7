"""Photo uploads beside the live stream, on a real daemon with real clients: the live frames keep coming while a
client uploads photos back to back. Prints the live rate without and with uploads, measured in alternating windows
so the host's own drift (it is shared) hits both alike; no timing asserts: the numbers go into the README with the
load at the time."""
from __future__ import annotations

import http.client
import statistics
import threading
import time

from streamer.core.stats import percentiles
from streamer.tools.measure import load_1m
from tests.conftest import IMAGES

from .harness import MjpegReader

PHOTO = IMAGES["lions"]  # a 4898 x 3265 JPEG (16 MP, 1.3 MB), like a phone photo


def post_photo(port: int, body: bytes, fmt: str = "png", timeout: float = 120.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/depth?format={fmt}", body=body, headers={"Content-Type": "image/jpeg"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Viewer(threading.Thread):
    """A real MJPEG client counting the parts it gets."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.reader = MjpegReader(port, timeout=30.0)
        self.parts = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.reader.part()
                self.parts += 1
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.reader.close()


class Uploader(threading.Thread):
    """Uploads the photo back to back while `on` is set; `busy` is held during each upload."""

    def __init__(self, port: int, photo: bytes, fmt: str) -> None:
        super().__init__(daemon=True)
        self.port, self.photo, self.fmt = port, photo, fmt
        self.on, self.stop, self.busy = threading.Event(), threading.Event(), threading.Lock()
        self.codes: list[int] = []
        self.ms: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.on.wait(0.05):
                continue
            with self.busy:
                if not self.on.is_set():
                    continue
                t0 = time.monotonic()
                self.codes.append(post_photo(self.port, self.photo, self.fmt)[0])
                self.ms.append((time.monotonic() - t0) * 1e3)


def window(daemon, viewer: Viewer, seconds: float) -> tuple[float, float]:
    """(pipeline frames out per s, MJPEG parts per s at the viewer) over `seconds`."""
    n0, p0, t0 = daemon.frames_out(), viewer.parts, time.monotonic()
    time.sleep(seconds)  # a measurement window
    n1, p1, t1 = daemon.frames_out(), viewer.parts, time.monotonic()
    return (n1 - n0) / (t1 - t0), (p1 - p0) / (t1 - t0)


def live_rates(daemon, photo: bytes, fmt: str = "png", pairs: int = 3, seconds: float = 4.0) -> dict:
    """Median live rates over `pairs` alternating windows without and with back-to-back uploads."""
    viewer = Viewer(daemon.http_port)
    uploader = Uploader(daemon.http_port, photo, fmt)
    viewer.start()
    uploader.start()
    off: list[tuple[float, float]] = []
    on: list[tuple[float, float]] = []
    try:
        warm = post_photo(daemon.http_port, photo, fmt)[0]  # builds the upload session (and exports, once per size)
        assert warm == 200, warm
        for _ in range(pairs):
            with uploader.busy:  # no upload in flight
                pass
            off.append(window(daemon, viewer, seconds))
            done = len(uploader.codes)
            uploader.on.set()
            on.append(window(daemon, viewer, seconds))
            uploader.on.clear()
            on[-1] = (*on[-1], len(uploader.codes) - done)
    finally:
        uploader.on.clear()
        uploader.stop.set()
        viewer.stop.set()
        uploader.join(120)
    assert viewer.error is None, viewer.error
    med = statistics.median
    return {"fps_off": med(w[0] for w in off), "fps_on": med(w[0] for w in on),
            "mjpeg_off": med(w[1] for w in off), "mjpeg_on": med(w[1] for w in on),
            "fps_on_min": min(w[0] for w in on), "uploads_per_window": med(w[2] for w in on), "window_s": seconds,
            "uploads": len(uploader.codes), "codes": sorted(set(uploader.codes)),
            "upload_ms": percentiles(uploader.ms, (50, 90), 0), "load_1m": load_1m()}


def test_live_stream_keeps_its_frames_during_uploads(spawn, capsys):
    daemon = spawn("--set", "source.loop=true")
    daemon.wait_healthy()
    got = live_rates(daemon, PHOTO.read_bytes(), pairs=2, seconds=3.0)  # the README's figures: pairs=5, 4 s
    with capsys.disabled():
        print(f"\n[upload] live fps {got['fps_off']:.1f} without uploads, {got['fps_on']:.1f} with uploads back to "
              f"back (MJPEG viewer {got['mjpeg_off']:.1f} -> {got['mjpeg_on']:.1f} parts/s); 16 MP JPEG -> PNG: "
              f"{got['uploads_per_window']} per {got['window_s']:g} s window, latency {got['upload_ms']} ms; "
              f"load {got['load_1m']}")
    assert got["codes"] == [200] and got["uploads"] >= 1, got
    assert got["fps_on_min"] > 0 and got["mjpeg_on"] > 0, got  # live frames kept coming during the uploads
