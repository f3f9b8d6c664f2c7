"""Picture: one captured frame's pixels, converted only when someone needs them, at most once each, from any thread.

A source that decodes with PyAV hands over the decoded picture (still in the camera's YUV) and the conversions are
made on demand: the full-size BGR image (previews, points colours, the recorder, the precision gate's exact reference)
and the network-size RGB the decoder's scaler makes in one pass (the `decoder-scaled` preprocessing). Whoever asks
first pays, under the picture's lock; everyone else gets the kept result. A source that already has a BGR array
(the demo scene, bags, photos) wraps it with `Picture.of`: its BGR is free and it cannot scale.
"""
from __future__ import annotations

import threading

import numpy as np


class Picture:
    """Full-size BGR (`bgr()`, H x W x 3 uint8, C-contiguous, read-only by convention) and, where the source's
    decoder can scale (`can_scale`), network-size RGB (`scaled_rgb(w, h)`). Both are kept once made."""

    can_scale = False

    def __init__(self, width: int, height: int, bgr: np.ndarray | None = None) -> None:
        self.width, self.height = width, height
        self._bgr = bgr
        self._scaled: tuple[int, int, np.ndarray] | None = None  # (width, height, rgb) of the last scaled_rgb
        self._lock = threading.Lock()

    @classmethod
    def of(cls, bgr: np.ndarray) -> Picture:
        """A picture that is already a BGR array (converted by its source); it cannot scale."""
        return cls(bgr.shape[1], bgr.shape[0], bgr)

    @property
    def converted(self) -> bool:
        """Whether the full-size BGR exists yet (for tests and `bench`: no conversion is made by asking)."""
        return self._bgr is not None

    def bgr(self) -> np.ndarray:
        image = self._bgr
        if image is None:
            with self._lock:
                image = self._bgr
                if image is None:
                    image = self._bgr = self._convert_bgr()
        return image

    def scaled_rgb(self, width: int, height: int) -> np.ndarray | None:
        """height x width x 3 uint8 RGB straight from the decoded picture (one pass), kept for the next ask of the
        same size; None when this picture cannot scale."""
        if not self.can_scale:
            return None
        kept = self._scaled
        if kept is not None and kept[:2] == (width, height):
            return kept[2]
        with self._lock:
            kept = self._scaled
            if kept is None or kept[:2] != (width, height):
                kept = self._scaled = (width, height, self._convert_scaled(width, height))
        return kept[2]

    # -- the conversions made afresh, neither kept nor reused: what each costs (the precision stage's race) ---------
    def convert_bgr(self) -> np.ndarray:
        with self._lock:
            return self._convert_bgr()

    def convert_scaled(self, width: int, height: int) -> np.ndarray:
        with self._lock:
            return self._convert_scaled(width, height)

    # -- what a source's picture implements -------------------------------------------------------------------------
    def _convert_bgr(self) -> np.ndarray:
        if self._bgr is None:
            raise NotImplementedError(f"{type(self).__name__} must convert its BGR")
        return self._bgr.copy()  # Picture.of: the conversion was its source's

    def _convert_scaled(self, width: int, height: int) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} cannot scale")
