"""Back-projection: a metric z-depth map and its camera model -> XYZ points in the optical frame (x right, y down,
z forward), exact: the point of pixel (u, v) is (x(u, v) * z, y(u, v) * z, z) with x, y its undistorted normalised
coordinates, computed in float64 and stored as float32. Strided for decimated clouds; invalid depths dropped."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.geometry.camera import CameraModel


@dataclass(frozen=True, slots=True)
class PointCloud:
    xyz: np.ndarray  # N x 3 float32, metres, optical frame
    rgb: np.ndarray | None  # N x 3 uint8 (red, green, blue), or None
    pixels: np.ndarray  # N x 2 int32 (u, v): the depth map pixel each point came from

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


def backproject(z: np.ndarray, camera: CameraModel, *, stride: int = 1, bgr: np.ndarray | None = None) -> PointCloud:
    """Points of every `stride`-th pixel (rows and columns) of `z` (metres, h x w) whose depth is finite and > 0.

    `camera` must describe z's resolution (use `CameraModel.scaled`). `bgr`: an image of any size (the captured
    frame); it is resized to z's size (cv2.INTER_AREA) and each point gets its pixel's colour, as RGB."""
    z = np.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"depth must be a 2-D map, got shape {z.shape}")
    h, w = z.shape
    if (camera.width, camera.height) != (w, h):
        raise ValueError(f"the camera model is for {camera.width}x{camera.height} but the depth map is {w}x{h}; "
                         "use camera.scaled(width, height)")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    x, y = camera.rays()
    zs = z[::stride, ::stride]
    valid = np.isfinite(zs) & (zs > 0)
    rows, cols = np.nonzero(valid)
    rows *= stride
    cols *= stride
    zz = z[rows, cols].astype(np.float64)
    xyz = np.empty((zz.size, 3), np.float32)
    xyz[:, 0] = x[rows, cols] * zz
    xyz[:, 1] = y[rows, cols] * zz
    xyz[:, 2] = zz
    rgb = None
    if bgr is not None:
        small = bgr if bgr.shape[:2] == (h, w) else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(small[rows, cols][:, ::-1])
    return PointCloud(xyz, rgb, np.stack([cols, rows], axis=1).astype(np.int32))
