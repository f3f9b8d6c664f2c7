"""The ray-caster: a `View` (a CameraModel at a Pose) casts one ray per pixel into a `Room` and its `SceneObject`s.

World frame: metres, x right, y up, z ahead, the floor at y = 0. Ray directions are scaled so that the parameter t
along a ray is the z-depth (distance along the optical axis), the quantity depth nets are trained on. Everything per
pixel is float32 (fast, and what the depth maps are stored in); the demo source's true depth is defined by exactly
this arithmetic, so changing its order changes the truth the metric-depth tests score against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamer.geometry.camera import CameraModel

LIGHT_POS = (0.3, 2.5, 4.0)  # one point light, world metres
AMBIENT = 0.38


@dataclass(frozen=True, slots=True)
class Pose:
    """Where a camera is in the world and where it looks: turned `yaw_deg` to the right (about +y), then pitched
    `pitch_deg` nose down, no roll."""

    position: tuple[float, float, float]
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0

    def rotation(self) -> np.ndarray:
        """Camera axes (x right, y up, z ahead) -> world: R = Ry(yaw) @ Rx(pitch), written out (no rounding noise
        from a product: at yaw 0 the entries are exactly 0, 1, cos and sin of the pitch)."""
        cy, sy = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        cp, sp = math.cos(math.radians(self.pitch_deg)), math.sin(math.radians(self.pitch_deg))
        return np.array([[cy, sy * sp, sy * cp], [0.0, cp, -sp], [-sy, cy * sp, cy * cp]])


@dataclass(frozen=True, slots=True)
class Room:
    """An axis-aligned box: `x0`..`x1` wide, floor (y = 0) to `height`, `z0` (front wall) to `z1` (back wall).
    Every ray from inside ends on a wall, so depth is finite everywhere."""

    x0: float
    x1: float
    height: float
    z0: float
    z1: float


FACES = ("floor", "ceiling", "left", "right", "back", "front")  # the surface indices `room_hits` returns


@dataclass(frozen=True, slots=True)
class SceneObject:
    """A sphere (size = radius) or an axis-aligned box (size = half extents), in world metres."""

    name: str
    shape: Literal["sphere", "box"]
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[float, float, float]  # BGR 0..1

    def corners(self) -> np.ndarray:
        c, s = np.asarray(self.center), np.asarray(self.size)
        return np.array([c + s * (i, j, k) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])


class View:
    """A camera model (ideal pinhole) at a pose: each pixel's world ray direction (dx, dy, dz: float32 H x W, scaled
    so t is z-depth), their reciprocals, and world -> pixel projection."""

    def __init__(self, camera: CameraModel, pose: Pose) -> None:
        if camera.distorted:
            raise ValueError("the scene renderer casts ideal pinhole rays; give a camera model without distortion")
        self.camera, self.pose = camera, pose
        self.width, self.height = camera.width, camera.height
        self.pos = np.asarray(pose.position, dtype=np.float64)
        self.rot = pose.rotation()
        u = (np.arange(camera.width, dtype=np.float32) - camera.cx) / camera.fx
        v = (camera.cy - np.arange(camera.height, dtype=np.float32)) / camera.fy  # image rows down, world y up
        xc, yc = np.meshgrid(u, v)
        r = [[float(x) for x in row] for row in self.rot]
        self.dx, self.dy, self.dz = ((xc * r[i][0] + yc * r[i][1] + r[i][2]).astype(np.float32) for i in range(3))
        eps = np.float32(1e-9)
        self.inv = [1.0 / np.where(np.abs(d) < eps, eps, d) for d in (self.dx, self.dy, self.dz)]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (N x 3) -> pixel u, v and camera z-depth."""
        q = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.pos
        r = self.rot
        xc = q[:, 0] * r[0, 0] + q[:, 1] * r[1, 0] + q[:, 2] * r[2, 0]  # R is orthonormal: world -> camera is R^T
        yc = q[:, 0] * r[0, 1] + q[:, 1] * r[1, 1] + q[:, 2] * r[2, 1]
        zc = q[:, 0] * r[0, 2] + q[:, 1] * r[1, 2] + q[:, 2] * r[2, 2]
        cam = self.camera
        return cam.cx + cam.fx * xc / zc, cam.cy - cam.fy * yc / zc, zc

    def roi(self, corners: np.ndarray) -> tuple[slice, slice] | None:
        """Pixel rectangle covering the projection of a convex shape's bounding corners, or None if off screen."""
        u, v, z = self.project(corners)
        if np.any(z <= 0.05):
            return None
        x0, x1 = max(int(u.min()) - 1, 0), min(int(u.max()) + 2, self.width)
        y0, y1 = max(int(v.min()) - 1, 0), min(int(v.max()) + 2, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return slice(y0, y1), slice(x0, x1)

    def hit_points(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World coordinates (float32) of the points at parameter `t` along each pixel's ray."""
        px, py, pz = (float(c) for c in self.pos)
        return px + t * self.dx, py + t * self.dy, pz + t * self.dz


def room_hits(view: View, room: Room) -> tuple[np.ndarray, np.ndarray]:
    """(surface, t): which face of `room` each pixel's ray hits first (an index into FACES) and its z-depth."""
    px, py, pz = (float(c) for c in view.pos)
    dx, dy, dz = view.dx, view.dy, view.dz
    with np.errstate(divide="ignore", invalid="ignore"):
        cands = np.stack([
            np.where(dy < 0, (0.0 - py) / dy, np.inf), np.where(dy > 0, (room.height - py) / dy, np.inf),
            np.where(dx < 0, (room.x0 - px) / dx, np.inf), np.where(dx > 0, (room.x1 - px) / dx, np.inf),
            np.where(dz > 0, (room.z1 - pz) / dz, np.inf), np.where(dz < 0, (room.z0 - pz) / dz, np.inf)])
    surface = np.argmin(cands, axis=0)
    return surface, np.take_along_axis(cands, surface[None], axis=0)[0].astype(np.float32)


def lambert(px, py, pz, nx, ny, nz) -> np.ndarray:
    """Ambient plus diffuse light from LIGHT_POS with gentle distance falloff, per component (float32 arrays)."""
    lx, ly, lz = (np.float32(LIGHT_POS[0]) - px, np.float32(LIGHT_POS[1]) - py, np.float32(LIGHT_POS[2]) - pz)
    dist2 = lx * lx + ly * ly + lz * lz
    cos = (lx * nx + ly * ny + lz * nz) / np.sqrt(dist2)
    return AMBIENT + (1.0 - AMBIENT) * np.clip(cos, 0.0, 1.0) * (8.0 / (8.0 + dist2 * 0.25))
def draw_object(cam: View, obj: SceneObject, image: np.ndarray, depth: np.ndarray) -> None:
    """Ray-cast one object inside its screen rectangle; keep pixels where it is nearer than what is there (z-depth
    in `depth`, its lit, checkered colour in `image`)."""
    c = np.asarray(obj.center)
    s = np.asarray(obj.size)
    roi = cam.roi(obj.corners())
    if roi is None:
        return
    dx, dy, dz = cam.dx[roi], cam.dy[roi], cam.dz[roi]
    ox, oy, oz = (np.float32(v) for v in cam.pos - c)  # ray origin relative to the object; float32 keeps it fast
    if obj.shape == "sphere":
        r = np.float32(s[0])
        a = dx * dx + dy * dy + dz * dz
        b = ox * dx + oy * dy + oz * dz
        disc = b * b - a * (ox * ox + oy * oy + oz * oz - r * r)
        hit = disc > 0
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        lx, ly, lz = ox + t * dx, oy + t * dy, oz + t * dz  # hit point relative to the centre
        nx, ny, nz = lx / r, ly / r, lz / r
        pattern = (np.floor(nx * 3.0) + np.floor(ny * 3.0) + np.floor(nz * 3.0)) % 2  # a checker on the surface
    else:
        lo = [(-s[i] - o) * cam.inv[i][roi] for i, o in enumerate((ox, oy, oz))]
        hi = [(s[i] - o) * cam.inv[i][roi] for i, o in enumerate((ox, oy, oz))]
        t_in = [np.minimum(a_, b_) for a_, b_ in zip(lo, hi, strict=True)]
        t_out = np.minimum(np.minimum(np.maximum(lo[0], hi[0]), np.maximum(lo[1], hi[1])), np.maximum(lo[2], hi[2]))
        t = np.maximum(np.maximum(t_in[0], t_in[1]), t_in[2])
        hit = t < t_out
        # the entry face is on the axis whose slab was entered last; it faces against the ray
        nx = np.where(t == t_in[0], -np.sign(dx), 0.0).astype(np.float32)
        ny = np.where((t == t_in[1]) & (nx == 0), -np.sign(dy), 0.0).astype(np.float32)
        nz = np.where((nx == 0) & (ny == 0), -np.sign(dz), 0.0).astype(np.float32)
        lx, ly, lz = ox + t * dx, oy + t * dy, oz + t * dz
        pattern = (np.floor(lx * 5.0) + np.floor(ly * 5.0) + np.floor(lz * 5.0)) % 2  # 20 cm checker
    hit &= (t > 0) & (t < depth[roi])
    if not hit.any():
        return
    cx, cy, cz = (np.float32(v) for v in c)
    shade = lambert(lx + cx, ly + cy, lz + cz, nx, ny, nz) * (0.85 + 0.15 * pattern)
    color = np.clip(shade[..., None] * (np.asarray(obj.color, np.float32) * 255.0), 0, 255).astype(np.uint8)
    image[roi][hit] = color[hit]
    depth[roi][hit] = t[hit]
