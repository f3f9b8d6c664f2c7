"""A still photo's depth as a file: colorized PNG, 16-bit PNG, raw .npy (what `infer` writes and `POST /depth`
answers). A still has no history, so its colors use its own robust range (2nd-98th percentile), not a tracked one."""
from __future__ import annotations

import io

import cv2
import numpy as np

from streamer.render.colorize import Colorizer, ColorOptions

DEPTH_FORMATS = {"png": "image/png", "png16": "image/png", "npy": "application/octet-stream"}
# A 16 MP photo's PNG: level 1 with the "up" filter encodes in ~0.3 s (the default level 3, adaptive filters: ~0.75 s)
# for ~12% more bytes; this encode is most of an upload's CPU time, which the live stream shares.
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1] + ([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
                                               if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])  # OpenCV >= 4.11


def robust_range(raw: np.ndarray) -> tuple[float, float]:
    """The 2nd and 98th percentiles: the colour range of a map with no history."""
    lo, hi = np.percentile(raw, (2, 98))
    return float(lo), float(hi)


def encode(raw: np.ndarray, fmt: str, size: tuple[int, int], colors: ColorOptions | None = None) -> bytes:
    """The depth `raw` (float32, network resolution) as `fmt` (see DEPTH_FORMATS); png and png16 at `size`
    (W, H: the photo's). png16 maps the raw minimum..maximum linearly to 0..65535 (near = high); npy is `raw`
    itself, float32, at network resolution."""
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(raw, dtype=np.float32), allow_pickle=False)
        return buf.getvalue()
    if fmt == "png":
        image = Colorizer(colors).colorize(raw, robust_range(raw), size=size)  # one per call: it keeps buffers
    elif fmt == "png16":
        lo, hi = float(raw.min()), float(raw.max())
        u = cv2.resize(raw.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        u = (u - lo) * (65535.0 / (hi - lo) if hi > lo else 0.0)
        image = np.clip(u + 0.5, 0, 65535).astype(np.uint16)
    else:
        raise ValueError(f"format must be one of {', '.join(DEPTH_FORMATS)}")
    ok, png = cv2.imencode(".png", image, PNG_FAST)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for an image of shape {image.shape}")
    return png.tobytes()
