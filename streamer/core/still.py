"""StillDepth: what the HTTP upload endpoint needs from the model, as an interface, so publishers never import it.

The pipeline passes the model layer's implementation (`streamer.model.still.StillDepthModel`) to the HTTP publisher;
tests may pass anything with the same shape.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class StillDepth(Protocol):
    net_size: int  # the network's longer input side (px)
    max_input_side: int  # longer side worth decoding: larger photos may be decoded reduced, to at least this

    def depth(self, bgr: np.ndarray) -> np.ndarray:
        """Raw relative inverse depth (float32, network resolution) of one H x W x 3 uint8 BGR photo.

        Safe to call from any thread, beside the live inference worker."""
        ...
