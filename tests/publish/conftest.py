"""Synthetic frames, the real renderer, a hand-driven status and a frame feeder for the publisher tests (no camera,
no model)."""
from __future__ import annotations

import http.client
import threading
import time
from typing import Callable

import numpy as np
import pytest

from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.picture import Picture
from streamer.core.status import Health
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher
from streamer.render.renderer import FrameRenderer

META = {"model": "MiDaS_small", "weights_sha256": "ab" * 32, "backend": "test"}


def make_frame(seq: int, h: int = 48, w: int = 64, noise: bool = False) -> DepthFrame:
    """Camera h x w, depth at half resolution (as the network's would be): a ramp plus `seq`, so frames differ."""
    rng = np.random.default_rng(seq)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else np.full((h, w, 3), seq % 256, np.uint8)
    dh, dw = h // 2, w // 2
    depth = (np.linspace(0.0, 1.0, dh * dw, dtype=np.float32).reshape(dh, dw) + seq).astype(np.float32)
    now = time.monotonic()
    cf = CapturedFrame(seq=seq, picture=Picture.of(image), capture_wall=time.time(), capture_mono=now)
    return DepthFrame(captured=cf, raw=depth * 0.5, depth=depth, depth_range=(float(seq), float(seq) + 1.0),
                      align=(2.0, 0.0), infer_ms=12.5, done_mono=now, meta=dict(META))


class CallableStatus:
    """A PipelineStatus driven by plain callables, so a publisher test can set health, no-signal and stats by hand
    (the publisher is what is under test; the pipeline that normally answers is not)."""

    def __init__(self, stats=None, health=None, no_signal=None, idle=None, metrics=None) -> None:
        self._stats, self._health, self._no_signal, self._idle = stats, health, no_signal, idle
        self._metrics = metrics

    def health(self) -> Health:
        if self._health is not None:
            return Health(*self._health())
        reason = self.no_signal()
        return Health(reason is None, reason or "ok")

    def no_signal(self) -> str | None:
        return self._no_signal() if self._no_signal is not None else None

    def idle(self) -> bool:
        return bool(self._idle and self._idle())

    def snapshot(self) -> dict:
        return self._stats() if self._stats is not None else {}

    def metrics(self) -> bytes:
        return self._metrics() if self._metrics is not None else b""


def status_from(stats=None, health=None, no_signal=None) -> CallableStatus | None:
    """None when no callable is given: the publisher then judges health on its own."""
    if stats is None and health is None and no_signal is None:
        return None
    return CallableStatus(stats, health, no_signal)


class Feeder:
    """Publishes synthetic frames at `fps` from a thread, like the steady stage would."""

    def __init__(self, publish: Callable[[DepthFrame], None], fps: float = 50.0, **frame_kw: object) -> None:
        self._publish, self._period, self._kw = publish, 1.0 / fps, frame_kw
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.count = 0

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._publish(make_frame(self.count, **self._kw))  # type: ignore[arg-type]
            self.count += 1

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)


@pytest.fixture
def frames() -> Callable[..., DepthFrame]:
    return make_frame


@pytest.fixture
def renderer() -> FrameRenderer:
    """The real shared renderer (colorize once, view once, JPEG once per frame) that the daemon gives publishers."""
    return FrameRenderer()


@pytest.fixture
def feeder() -> type[Feeder]:
    return Feeder


@pytest.fixture
def server(renderer):
    """start(still=None, status=None, stats=None, health=None, no_signal=None, **HttpOptions) -> a started
    HttpPublisher on a free port; every one is stopped (and must stop) at teardown."""
    started: list[HttpPublisher] = []

    def start(still=None, status=None, stats=None, health=None, no_signal=None, **kw) -> HttpPublisher:
        srv = HttpPublisher(HttpOptions(port=0, **kw), renderer=renderer, still=still)
        srv.start(status if status is not None else status_from(stats, health, no_signal))
        started.append(srv)
        return srv

    yield start
    for srv in started:
        assert srv.stop(2.0)


def http_request(srv: HttpPublisher, path: str, headers: dict | None = None, method: str = "GET"):
    """(status, headers with lower-case names, body) of one real HTTP request to `srv`."""
    conn = http.client.HTTPConnection(*srv.address, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
