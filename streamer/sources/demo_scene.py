"""DemoScene: a ray-cast room with moving objects, rendered with numpy/cv2, with its true metric depth per pixel.

The room (floor, walls, ceiling, back wall, two pillars) never moves, so it is rendered once at 2x and shrunk
(anti-aliased image) plus once at 1x (exact depth). Each frame copies that and ray-casts only the moving objects
inside their projected bounding boxes, with blob shadows and a little sensor noise from a precomputed bank.
Depth is camera z-depth in metres (distance along the optical axis), the quantity depth nets are trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from streamer.geometry.camera import CameraModel, Mount

CAMERA_HEIGHT_M = 1.4
CAMERA_TILT_DEG = 6.0  # pitched down a little, so the floor fills the lower half
HFOV_DEG = 70.0
ROOM_HALF_WIDTH_M = 2.4
ROOM_HEIGHT_M = 2.7
ROOM_DEPTH_M = 15.0  # back wall; every ray ends on some surface, so depth is finite everywhere
LIGHT_POS = np.array([0.3, 2.5, 4.0])
AMBIENT = 0.38
NOISE_BANK = 4


def demo_camera(width: int, height: int) -> CameraModel:
    """The exact pinhole model the scene is rendered with (no distortion, centre at the image centre)."""
    return CameraModel.from_hfov(HFOV_DEG, width, height)


def demo_mount() -> Mount:
    """The scene camera's mount: CAMERA_HEIGHT_M above the floor, pitched CAMERA_TILT_DEG down, no roll."""
    return Mount(CAMERA_HEIGHT_M, CAMERA_TILT_DEG, 0.0)


@dataclass(frozen=True, slots=True)
class SceneObject:
    """A sphere (size = radius) or an axis-aligned box (size = half extents), in world metres (y up, z ahead)."""

    name: str
    shape: Literal["sphere", "box"]
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: tuple[float, float, float]  # BGR 0..1


class _Camera:
    """Pinhole camera at (0, CAMERA_HEIGHT_M, 0) looking along +z, tilted down; rays scaled so t = z-depth."""

    def __init__(self, width: int, height: int, f: float, cx: float, cy: float) -> None:
        self.width, self.height, self.f, self.cx, self.cy = width, height, f, cx, cy
        self.pos = np.array([0.0, CAMERA_HEIGHT_M, 0.0])
        tilt = math.radians(CAMERA_TILT_DEG)
        self.cos, self.sin = math.cos(tilt), math.sin(tilt)
        u = (np.arange(width, dtype=np.float32) - cx) / f
        v = (cy - np.arange(height, dtype=np.float32)) / f
        xc, yc = np.meshgrid(u, v)
        self.dx = xc
        self.dy = (yc * self.cos - self.sin).astype(np.float32)
        self.dz = (yc * self.sin + self.cos).astype(np.float32)
        eps = np.float32(1e-9)
        self.inv = [1.0 / np.where(np.abs(d) < eps, eps, d) for d in (self.dx, self.dy, self.dz)]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (N x 3) -> pixel u, v and camera z-depth."""
        q = np.asarray(points, dtype=np.float64) - self.pos
        xc = q[:, 0]
        yc = q[:, 1] * self.cos + q[:, 2] * self.sin
        zc = -q[:, 1] * self.sin + q[:, 2] * self.cos
        return self.cx + self.f * xc / zc, self.cy - self.f * yc / zc, zc

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


class DemoScene:
    """Renders frame `index` of the scene for `seed`: same arguments, same pixels. ~2-4 ms per 640x480 frame."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, seed: int = 0) -> None:
        self.width, self.height, self.fps, self.seed = width, height, fps, seed
        rng = np.random.default_rng(seed)
        model = demo_camera(width, height)
        self.camera = _Camera(width, height, model.fx, model.cx, model.cy)
        self._phase = rng.uniform(0.0, 2.0 * math.pi, size=4)
        self._colors = [tuple(float(c) for c in rng.uniform(0.25, 0.95, size=3)) for _ in range(5)]
        self._tones = rng.uniform(0.8, 1.15, size=64).astype(np.float32)  # per-tile / per-panel shade variation
        self.static_objects = [
            SceneObject("pillar_left", "box", (-1.6, ROOM_HEIGHT_M / 2, 10.0), (0.3, ROOM_HEIGHT_M / 2, 0.3),
                        self._colors[3]),
            SceneObject("pillar_right", "box", (1.7, ROOM_HEIGHT_M / 2, 12.5), (0.3, ROOM_HEIGHT_M / 2, 0.3),
                        self._colors[4]),
        ]
        self._image, self._depth = self._render_static()
        floor = self.camera.dy < 0
        t_floor = np.where(floor, -CAMERA_HEIGHT_M / np.where(floor, self.camera.dy, -1.0), np.inf)
        on_floor = floor & (t_floor <= self._depth + 1e-3)
        self._floor_x = np.where(on_floor, t_floor * self.camera.dx, np.nan).astype(np.float32)
        self._floor_z = np.where(on_floor, t_floor * self.camera.dz, np.nan).astype(np.float32)
        noise = rng.normal(0.0, 2.0, size=(NOISE_BANK, height, width, 3))
        self._noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_down = np.clip(-noise, 0, 255).astype(np.uint8)

    # -- the moving part -----------------------------------------------------------------------------------------
    def objects(self, index: int) -> list[SceneObject]:
        """The moving objects at frame `index` (world positions are what the depth test checks against)."""
        t = index / self.fps
        p = self._phase
        ball_r = 0.3
        return [
            SceneObject("ball", "sphere",
                        (1.3 * math.sin(2 * math.pi * t / 4.0 + p[0]), ball_r,
                         2.7 + 0.5 * math.sin(2 * math.pi * t / 7.0 + p[1])), (ball_r,) * 3, self._colors[0]),
            SceneObject("crate", "box",
                        (-1.2, 0.4, 5.5 + 1.5 * math.sin(2 * math.pi * t / 8.0 + p[2])), (0.4, 0.4, 0.4),
                        self._colors[1]),
            SceneObject("orb", "sphere",
                        (0.9, 1.5 + 0.3 * math.sin(2 * math.pi * t / 3.0 + p[3]),
                         8.0 + 2.0 * math.sin(2 * math.pi * t / 10.0 + p[0])), (0.45,) * 3, self._colors[2]),
        ]

    def depth_of(self, point: tuple[float, float, float]) -> tuple[int, int, float]:
        """Pixel (u, v) a world point lands on and its camera z-depth in metres."""
        u, v, z = self.camera.project(np.array([point]))
        return int(round(float(u[0]))), int(round(float(v[0]))), float(z[0])

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image H x W x 3 uint8 BGR, depth H x W float32 metres) of frame `index`; both freshly allocated."""
        image = self._image.copy()
        depth = self._depth.copy()
        objects = self.objects(index)
        for obj in objects:
            self._shadow(image, obj)
        for obj in objects:
            _draw(self.camera, obj, image, depth)
        k = index % NOISE_BANK
        cv2.add(image, self._noise_up[k], dst=image)
        cv2.subtract(image, self._noise_down[k], dst=image)
        return image, depth

    def _shadow(self, image: np.ndarray, obj: SceneObject) -> None:
        """Darken the floor under an object (a soft blob: cheap, and a strong cue for where things stand)."""
        x, y, z = obj.center
        radius = max(obj.size[0], obj.size[2]) * 1.3
        lift = y - obj.size[1]  # gap between the object's bottom and the floor
        corners = np.array([[x + sx * radius, 0.0, z + sz * radius] for sx in (-1, 1) for sz in (-1, 1)])
        roi = self.camera.roi(corners)
        if roi is None:
            return
        fx = self._floor_x[roi] - x
        fz = self._floor_z[roi] - z
        d2 = (fx * fx + fz * fz) / (radius * radius)
        strength = 0.55 / (1.0 + 2.0 * lift)
        shade = 1.0 - strength * np.clip(1.0 - d2, 0.0, 1.0)
        shade = np.nan_to_num(shade, nan=1.0)
        patch = image[roi]
        patch[:] = np.clip(patch * shade[..., None], 0, 255).astype(np.uint8)

    # -- the static part, once ----------------------------------------------------------------------------------
    def _render_static(self) -> tuple[np.ndarray, np.ndarray]:
        cam = self.camera
        big = _Camera(cam.width * 2, cam.height * 2, cam.f * 2, cam.cx * 2 + 0.5, cam.cy * 2 + 0.5)
        image2, depth2 = self._room(big)
        for obj in self.static_objects:
            _draw(big, obj, image2, depth2)
        image = cv2.resize(image2, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        _, depth = self._room(cam)
        for obj in self.static_objects:
            _draw(cam, obj, np.empty((cam.height, cam.width, 3), np.uint8), depth)
        return np.ascontiguousarray(image), depth

    def _room(self, cam: _Camera) -> tuple[np.ndarray, np.ndarray]:
        """Floor, ceiling, side walls and back wall: textured, lit by one point light, with a little haze."""
        dx, dy, dz = cam.dx, cam.dy, cam.dz
        with np.errstate(divide="ignore", invalid="ignore"):
            cands = np.stack([
                np.where(dy < 0, -CAMERA_HEIGHT_M / dy, np.inf),  # 0 floor
                np.where(dy > 0, (ROOM_HEIGHT_M - CAMERA_HEIGHT_M) / dy, np.inf),  # 1 ceiling
                np.where(dx < 0, -ROOM_HALF_WIDTH_M / dx, np.inf),  # 2 left wall
                np.where(dx > 0, ROOM_HALF_WIDTH_M / dx, np.inf),  # 3 right wall
                np.where(dz > 0, ROOM_DEPTH_M / dz, np.inf),  # 4 back wall
            ])
        surface = np.argmin(cands, axis=0)
        t = np.take_along_axis(cands, surface[None], axis=0)[0].astype(np.float32)
        hx, hy, hz = t * dx, CAMERA_HEIGHT_M + t * dy, t * dz
        tones = self._tones
        albedo = np.empty(t.shape + (3,), np.float32)
        normal = np.zeros(t.shape + (3,), np.float32)

        def tone(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return tones[(np.asarray(a, np.int64) * 7 + np.asarray(b, np.int64) * 13) % tones.size]

        # floor: 0.6 m tiles in two wood tones, each tile shaded a little differently
        m = surface == 0
        ix, iz = np.floor(hx[m] / 0.6), np.floor(hz[m] / 0.6)
        base = np.where(((ix + iz) % 2 == 0)[:, None], [0.30, 0.45, 0.62], [0.20, 0.32, 0.48])
        albedo[m] = base * tone(ix, iz)[:, None]
        normal[m] = (0, 1, 0)
        # ceiling: pale, with 1.2 m light panels
        m = surface == 1
        panel = ((np.abs(hx[m] % 1.2 - 0.6) < 0.35) & (np.abs(hz[m] % 1.2 - 0.6) < 0.35))[:, None]
        albedo[m] = np.where(panel, [0.95, 0.95, 0.92], [0.70, 0.72, 0.74])
        normal[m] = (0, -1, 0)
        # side walls: 0.8 m panels, a dark skirting board and a rail at 1 m
        for s, nx, col in ((2, 1, [0.55, 0.62, 0.50]), (3, -1, [0.45, 0.55, 0.68])):
            m = surface == s
            iz = np.floor(hz[m] / 0.8)
            c = np.asarray(col, np.float32)[None] * tone(iz, s)[:, None]
            y = hy[m]
            c = np.where(((y < 0.12) | (np.abs(y - 1.0) < 0.04))[:, None], c * 0.45, c)
            c = np.where((np.abs(hz[m] % 0.8) < 0.03)[:, None], c * 0.7, c)
            albedo[m] = c
            normal[m] = (nx, 0, 0)
        # back wall: large coloured bands and a disc, so far away still has texture
        m = surface == 4
        bands = np.floor((hx[m] + hy[m]) / 0.7)
        disc = ((hx[m] - 0.4) ** 2 + (hy[m] - 1.5) ** 2) < 0.36
        c = np.where((bands % 2 == 0)[:, None], [0.62, 0.40, 0.35], [0.42, 0.55, 0.70])
        albedo[m] = np.where(disc[:, None], [0.20, 0.65, 0.85], c)
        normal[m] = (0, 0, -1)

        shade = _lambert(hx, hy, hz, normal[..., 0], normal[..., 1], normal[..., 2])
        haze = np.exp(-t / 40.0)[..., None]
        rgb = albedo * shade[..., None] * haze + 0.55 * (1.0 - haze)
        return np.clip(rgb * 255.0, 0, 255).astype(np.uint8), t


def _lambert(px, py, pz, nx, ny, nz) -> np.ndarray:
    """Ambient plus diffuse light from LIGHT_POS with gentle distance falloff, per component (float32 arrays)."""
    lx, ly, lz = (np.float32(LIGHT_POS[0]) - px, np.float32(LIGHT_POS[1]) - py, np.float32(LIGHT_POS[2]) - pz)
    dist2 = lx * lx + ly * ly + lz * lz
    cos = (lx * nx + ly * ny + lz * nz) / np.sqrt(dist2)
    return AMBIENT + (1.0 - AMBIENT) * np.clip(cos, 0.0, 1.0) * (8.0 / (8.0 + dist2 * 0.25))


def _draw(cam: _Camera, obj: SceneObject, image: np.ndarray, depth: np.ndarray) -> None:
    """Ray-cast one object inside its screen rectangle; keep pixels where it is nearer than what is there."""
    c = np.asarray(obj.center)
    s = np.asarray(obj.size)
    corners = np.array([c + s * (i, j, k) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
    roi = cam.roi(corners)
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
    shade = _lambert(lx + cx, ly + cy, lz + cz, nx, ny, nz) * (0.85 + 0.15 * pattern)
    color = np.clip(shade[..., None] * (np.asarray(obj.color, np.float32) * 255.0), 0, 255).astype(np.uint8)
    image[roi][hit] = color[hit]
    depth[roi][hit] = t[hit]
