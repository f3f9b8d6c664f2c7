"""A synthetic video with keyframes where a test wants them (every GOP frames)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE, FRAMES, GOP = 10, 48, 8


def write_video(path: Path) -> Path:
    """FRAMES frames at RATE fps, a keyframe every GOP frames: shapes moving over a gradient."""
    yy, xx = np.mgrid[0:96, 0:128]
    with av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bframes": "0"}
        for i in range(FRAMES):
            img = np.stack([(xx * 2 + i * 3) % 256, (yy * 2) % 256, ((xx - 40 - i) ** 2 + (yy - 48) ** 2 < 400) * 200],
                           axis=-1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, RATE)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return path
