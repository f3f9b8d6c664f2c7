"""What a piece of batch work holds in memory, Python-side, measured with tracemalloc: every numpy array, bytes
object and list it allocates (frames, maps, messages, chunks), though not the ONNX runtime's own buffers (`bench
batch --long-bag-minutes` states those, as RSS). And the units of a bag, planned as the driver plans them."""
from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.batch.driver import Job, plan
from streamer.batch.manifest import Manifest
from streamer.batch.plan import Unit

WIDTH = 640  # the test bags' frames: 640 x 360 (0.7 MB decoded): a chunk of the input holds one, and one frame
FRAME_BYTES = WIDTH * (WIDTH * 9 // 16) * 3  # more held is visible above the noise (the network's maps are 256 x 192)


def traced_peak(work: Callable[[], Any]) -> tuple[int, Any]:
    """(the most bytes `work` had allocated at once, what it returned)."""
    tracemalloc.start()
    try:
        result = work()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def units_of(bag: Path, out: Path, conf: dict) -> list[Unit]:
    _, todo, _ = plan(Job([str(bag)], out, conf), Manifest(out))
    return todo
