"""FrameRenderer: colorize each depth frame once, compose each (frame, view) once and JPEG-encode each
(frame, view, quality) once, for every publisher to share.

The ZeroMQ color topic, imagezmq and the HTTP preview all ask for views of the same frame from their own threads;
the work must not grow with the number of publishers or viewers. The first thread to ask for a JPEG encodes it
while the others asking for the same view wait on that view's lock, then reuse the bytes; views nobody asks for
are never rendered.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import cv2
import numpy as np

from streamer.core.frame import DepthFrame
from streamer.render.colorize import Colorizer, ColorOptions
from streamer.render.views import VIEWS, ViewOptions, check_view, render_view

NO_SIGNAL = "no_signal"  # the JPEG group of the "no signal" frames


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for an image of shape {image.shape}")
    return buf.tobytes()


def frame_key(frame: DepthFrame) -> tuple[int, float]:
    """What identifies a frame across publishers: seq alone repeats when a source restarts, capture time does not."""
    return frame.captured.seq, frame.captured.capture_mono


class _JpegCache:
    """JPEGs of recent keys. One lock per group (view): the first thread to ask encodes while the others of that
    group wait for it, then reuse the bytes."""

    def __init__(self, groups: tuple[str, ...], size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._items_lock = threading.Lock()
        self._group_locks = {g: threading.Lock() for g in groups}
        self.encodes = {g: 0 for g in groups}

    def get(self, group: str, key: tuple, make: Callable[[], bytes]) -> bytes:
        with self._group_locks[group]:
            with self._items_lock:
                data = self._items.get(key)
            if data is not None:
                return data
            data = make()
            self.encodes[group] += 1
            with self._items_lock:
                self._items[key] = data
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            return data


class FrameRenderer:
    """Thread-safe: publishers call it from their own threads; each piece of work for one frame is done once."""

    def __init__(self, color: ColorOptions | None = None, overlay_alpha: float = 0.5, keep: int = 4) -> None:
        self._colorizer = Colorizer(color)
        self._overlay_alpha = overlay_alpha
        self._keep = keep
        self._lock = threading.Lock()
        self._colored: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._images: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._jpegs = _JpegCache(VIEWS + (NO_SIGNAL,), size=keep * (len(VIEWS) + 1))

    @property
    def color_options(self) -> ColorOptions:
        """The configured colors, for publishers that colorize other depth (an uploaded photo's) the same way."""
        return self._colorizer.options

    def image(self, frame: DepthFrame, view: str) -> np.ndarray:
        """The view as H x W x 3 (side_by_side: H x 2W x 3) uint8 BGR; treat it as read-only (it is shared)."""
        check_view(view)
        with self._lock:
            key = (*frame_key(frame), view)
            image = self._images.get(key)
            if image is None:
                colored = self._colorized_locked(frame)  # at the camera's size already
                # The depth view takes only that size from the camera: its picture is not converted for it
                # (render_view would return `colored` itself).
                image = colored if view == "depth" else render_view(
                    frame.captured.image, colored, ViewOptions(view=view, overlay_alpha=self._overlay_alpha))
                _remember(self._images, key, image, self._keep * len(VIEWS))
            return image

    def jpeg(self, frame: DepthFrame, view: str, quality: int) -> bytes:
        """The view as JPEG bytes, encoded once per (frame, view, quality) whichever publisher asks first."""
        check_view(view)
        return self._jpegs.get(view, (*frame_key(frame), view, quality),
                               lambda: encode_jpeg(self.image(frame, view), quality))

    def no_signal_jpeg(self, reason: str, when: int, quality: int, make: Callable[[], np.ndarray]) -> bytes:
        """The "no signal" frame for (reason, second), encoded once however many viewers show it."""
        return self._jpegs.get(NO_SIGNAL, (NO_SIGNAL, reason, when, quality), lambda: encode_jpeg(make(), quality))

    def encodes(self) -> dict[str, int]:
        """JPEG encodes so far per view (and for the no-signal frame): the sharing is visible in /stats."""
        return dict(self._jpegs.encodes)

    def _colorized_locked(self, frame: DepthFrame) -> np.ndarray:
        key = frame_key(frame)
        colored = self._colored.get(key)
        if colored is None:
            h, w = frame.captured.shape
            colored = self._colorizer.colorize(frame.depth, frame.depth_range, size=(w, h))
            _remember(self._colored, key, colored, self._keep)
        return colored


def _remember(cache: OrderedDict, key, value, keep: int) -> None:
    cache[key] = value
    while len(cache) > keep:
        cache.popitem(last=False)
