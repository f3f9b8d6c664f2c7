"""A still photo's depth: one call for every caller, so each gets float32 and never NaN, whatever predicts it.

`PhotoDepth` is what the HTTP upload endpoint needs from the model, as an interface, so publishers never import the
model: the pipeline passes the model layer's implementation (`streamer.model.photo_runner.PhotoRunner`); tests may
pass anything with the same shape.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from streamer.core.finite import require_finite

Predictor = Callable[[np.ndarray], np.ndarray]  # H x W x 3 uint8 BGR -> raw relative inverse depth


class PhotoDepth(Protocol):
    net_size: int  # the network's longer input side (px)
    max_input_side: int  # longer side worth decoding: larger photos may be decoded reduced, to at least this

    def depth(self, bgr: np.ndarray) -> np.ndarray:
        """Raw relative inverse depth (network resolution) of one H x W x 3 uint8 BGR photo, unchecked (callers
        go through `photo_depth`). Safe to call from any thread, beside the live inference worker."""
        ...


def photo_depth(predict: Predictor, bgr: np.ndarray, what: str) -> np.ndarray:
    """`predict(bgr)` as float32; NonFiniteOutput naming `what` when any value is NaN or inf."""
    return require_finite(np.asarray(predict(bgr), dtype=np.float32), what)
