"""Synthetic frames, a stand-in renderer and a frame feeder for the publisher tests (no camera, no model)."""
from __future__ import annotations

import threading
import time
from typing import Callable

import cv2
import numpy as np
import pytest

from streamer.frame import CapturedFrame, DepthFrame

META = {"model": "MiDaS_small", "weights_sha256": "ab" * 32, "backend": "test"}


def make_frame(seq: int, h: int = 48, w: int = 64, noise: bool = False) -> DepthFrame:
    """Camera h x w, depth at half resolution (as the network's would be): a ramp plus `seq`, so frames differ."""
    rng = np.random.default_rng(seq)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else np.full((h, w, 3), seq % 256, np.uint8)
    dh, dw = h // 2, w // 2
    depth = (np.linspace(0.0, 1.0, dh * dw, dtype=np.float32).reshape(dh, dw) + seq).astype(np.float32)
    now = time.monotonic()
    cf = CapturedFrame(seq=seq, image=image, capture_wall=time.time(), capture_mono=now)
    return DepthFrame(frame=cf, raw=depth * 0.5, depth=depth, depth_range=(float(seq), float(seq) + 1.0),
                      align=(2.0, 0.0), infer_ms=12.5, done_mono=now, meta=dict(META))


def render(frame: DepthFrame, view: str) -> np.ndarray:
    """Test double for steady.views: colorize depth to the camera size, then compose the view."""
    lo, hi = frame.depth_range
    u8 = (np.clip((frame.depth - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    h, w = frame.frame.shape
    colored = cv2.resize(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO), (w, h))
    if view == "depth":
        return colored
    if view == "side_by_side":
        return np.hstack([frame.frame.image, colored])
    return cv2.addWeighted(frame.frame.image, 0.5, colored, 0.5, 0.0)


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
def renderer() -> Callable[[DepthFrame, str], np.ndarray]:
    return render


@pytest.fixture
def feeder() -> type[Feeder]:
    return Feeder
