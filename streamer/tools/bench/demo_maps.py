"""What the metric benches share: the demo source's frames through the network and the steadier, and an anchor feed
the bench fills itself (standing in for the daemon's anchors receiver)."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from streamer.geometry.anchors import AnchorSet
from streamer.sources.demo_scene import DemoScene
from streamer.steady import Steadier, SteadyOptions


class Feed:
    def __init__(self) -> None:
        self.anchors: AnchorSet | None = None

    def latest(self) -> AnchorSet | None:
        return self.anchors

    def snapshot(self) -> dict:
        return {"endpoint": "bench", "received": 0, "refused": 0, "last_error": ""}

    def problem(self) -> str:
        return ""


def demo_maps(model, frames: int, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, str, np.ndarray, np.ndarray]]:
    """(steadied map, steady status, truth, image) of the demo's frames 0, 3, 6, ... in order."""
    scene = DemoScene(*size)
    steadier = Steadier(SteadyOptions())
    for k in range(frames):
        image, truth = scene.render(3 * k)
        steady = steadier.update(model.predict(image))
        yield steady.depth, steady.status, truth, image
