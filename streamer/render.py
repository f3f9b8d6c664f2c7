"""Colorize each depth frame once and compose each (frame, view) once, for every publisher to share.

The ZMQ color topic, imagezmq and the MJPEG server all ask for views of the same frame from their own threads;
the work must not grow with the number of publishers (JPEG encoding is cached per view inside each publisher).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .frame import DepthFrame
from .steady import VIEWS, ColorOptions, Colorizer, ViewOptions, render_view


class FrameRenderer:
    """Thread-safe: publishers call it from their own threads; work for one (seq, view) is done once."""

    def __init__(self, color: ColorOptions | None = None, overlay_alpha: float = 0.5, keep: int = 4) -> None:
        self._colorizer = Colorizer(color)
        self._overlay_alpha = overlay_alpha
        self._keep = keep
        self._lock = threading.Lock()
        self._colored: OrderedDict[int, np.ndarray] = OrderedDict()
        self._images: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()

    def image(self, frame: DepthFrame, view: str) -> np.ndarray:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; views are {', '.join(VIEWS)}")
        with self._lock:
            return self._image_locked(frame, view)

    def _colorized_locked(self, frame: DepthFrame) -> np.ndarray:
        seq = frame.frame.seq
        colored = self._colored.get(seq)
        if colored is None:
            h, w = frame.frame.shape
            colored = self._colorizer.colorize(frame.depth, frame.depth_range, size=(w, h))
            _remember(self._colored, seq, colored, self._keep)
        return colored

    def _image_locked(self, frame: DepthFrame, view: str) -> np.ndarray:
        key = (frame.frame.seq, view)
        image = self._images.get(key)
        if image is None:
            image = render_view(frame.frame.image, self._colorized_locked(frame),
                                ViewOptions(view=view, overlay_alpha=self._overlay_alpha))
            _remember(self._images, key, image, self._keep * len(VIEWS))
        return image


def _remember(cache: OrderedDict, key, value, keep: int) -> None:
    cache[key] = value
    while len(cache) > keep:
        cache.popitem(last=False)
