"""Point records for the wire: the metric map back-projected (`streamer.geometry.backproject`, exact) and packed
as x, y, z float32 + red, green, blue, alpha uint8, 16 bytes a point - Foxglove's PointCloud and, with the colour
repacked, ROS's PointCloud2 carry these."""
from __future__ import annotations

import numpy as np

from streamer.core.frame import DepthFrame
from streamer.geometry import CameraModel, backproject

CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgba", "u1", (4,))])


def cloud_points(frame: DepthFrame, metric: np.ndarray, camera: CameraModel, stride: int) -> np.ndarray:
    """Packed x, y, z float32 + r, g, b, a uint8 records (16 bytes a point) of the back-projected metric map."""
    h, w = metric.shape
    cloud = backproject(metric, camera.scaled(w, h), stride=stride, bgr=frame.captured.image)
    out = np.empty(len(cloud), CLOUD_DTYPE)
    out["x"], out["y"], out["z"] = cloud.xyz[:, 0], cloud.xyz[:, 1], cloud.xyz[:, 2]
    if cloud.rgb is not None:
        out["rgba"][:, :3] = cloud.rgb
    else:
        out["rgba"][:, :3] = 255
    out["rgba"][:, 3] = 255
    return out
