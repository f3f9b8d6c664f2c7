"""Point records for the wire: the metric map back-projected (`streamer.geometry.backproject`, exact) and packed
as x, y, z float32 + red, green, blue, alpha uint8, 16 bytes a point - Foxglove's PointCloud and, with the colour
repacked, ROS's PointCloud2 carry these."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from streamer.core.frame import DepthFrame
from streamer.geometry import CameraModel, backproject
from streamer.render.renderer import frame_key

CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgba", "u1", (4,))])


def cloud_points(frame: DepthFrame, metric: np.ndarray, camera: CameraModel, stride: int) -> np.ndarray:
    """Packed x, y, z float32 + r, g, b, a uint8 records (16 bytes a point) of the back-projected metric map, made
    once per frame and stride however many outputs ask (Foxglove and the recorder, from their own threads); treat
    the array as read-only."""
    key = (*frame_key(frame), id(metric), stride)
    with _lock:
        points = _recent.get(key)
        if points is None:
            points = _recent[key] = _pack(frame, metric, camera, stride)
            points.setflags(write=False)  # shared between the outputs' threads
            while len(_recent) > 4:
                _recent.popitem(last=False)
        return points


_lock = threading.Lock()  # held while packing: a second output asking for the same frame waits, then reuses it
_recent: OrderedDict[tuple, np.ndarray] = OrderedDict()


def _pack(frame: DepthFrame, metric: np.ndarray, camera: CameraModel, stride: int) -> np.ndarray:
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
