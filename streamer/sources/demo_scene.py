"""DemoScene: a ray-cast room with moving objects, rendered with numpy/cv2, with its true metric depth per pixel.

Rendered with the public scene renderer (`streamer.scene`: the demo camera model at the demo pose, its room box and
object ray-caster); what is the demo's own is the room's look and the motion. The room (floor, walls, ceiling, back
wall, two pillars) never moves, so it is rendered once at 2x and shrunk (anti-aliased image) plus once at 1x (exact
depth). Each frame copies that and ray-casts only the moving objects
inside their projected bounding boxes, with blob shadows and a little sensor noise from a precomputed bank.
Depth is camera z-depth in metres (distance along the optical axis), the quantity depth nets are trained on.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from streamer.geometry.camera import CameraModel, Mount
from streamer.scene import Pose, Room, SceneObject, View, draw_object, lambert, room_hits

CAMERA_HEIGHT_M = 1.4
CAMERA_TILT_DEG = 6.0  # pitched down a little, so the floor fills the lower half
HFOV_DEG = 70.0
ROOM_HALF_WIDTH_M = 2.4
ROOM_HEIGHT_M = 2.7
ROOM_DEPTH_M = 15.0  # back wall; every ray ends on some surface, so depth is finite everywhere
NOISE_BANK = 4


def demo_camera(width: int, height: int) -> CameraModel:
    """The exact pinhole model the scene is rendered with (no distortion, centre at the image centre)."""
    return CameraModel.from_hfov(HFOV_DEG, width, height)


def demo_mount() -> Mount:
    """The scene camera's mount: CAMERA_HEIGHT_M above the floor, pitched CAMERA_TILT_DEG down, no roll."""
    return Mount(CAMERA_HEIGHT_M, CAMERA_TILT_DEG, 0.0)


def demo_pose() -> Pose:
    """The scene camera in the world: CAMERA_HEIGHT_M above the floor at the origin, looking along +z, pitched
    CAMERA_TILT_DEG down (the same camera `demo_mount` describes in the robot's frames)."""
    return Pose((0.0, CAMERA_HEIGHT_M, 0.0), 0.0, CAMERA_TILT_DEG)


ROOM = Room(-ROOM_HALF_WIDTH_M, ROOM_HALF_WIDTH_M, ROOM_HEIGHT_M, -1.0, ROOM_DEPTH_M)  # the front wall is unseen


class DemoScene:
    """Renders frame `index` of the scene for `seed`: same arguments, same pixels. ~2-4 ms per 640x480 frame."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, seed: int = 0) -> None:
        self.width, self.height, self.fps, self.seed = width, height, fps, seed
        rng = np.random.default_rng(seed)
        self.camera = demo_camera(width, height)
        self.view = View(self.camera, demo_pose())
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
        view = self.view
        floor = view.dy < 0
        t_floor = np.where(floor, -CAMERA_HEIGHT_M / np.where(floor, view.dy, -1.0), np.inf)
        on_floor = floor & (t_floor <= self._depth + 1e-3)
        self._floor_x = np.where(on_floor, t_floor * view.dx, np.nan).astype(np.float32)
        self._floor_z = np.where(on_floor, t_floor * view.dz, np.nan).astype(np.float32)
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
        u, v, z = self.view.project(np.array([point]))
        return int(round(float(u[0]))), int(round(float(v[0]))), float(z[0])

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image H x W x 3 uint8 BGR, depth H x W float32 metres) of frame `index`; both freshly allocated."""
        image = self._image.copy()
        depth = self._depth.copy()
        objects = self.objects(index)
        for obj in objects:
            self._shadow(image, obj)
        for obj in objects:
            draw_object(self.view, obj, image, depth)
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
        roi = self.view.roi(corners)
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
        cam = self.view
        big = View(self.camera.scaled(cam.width * 2, cam.height * 2), cam.pose)  # 2x: centres at 2c + 0.5
        image2, depth2 = self._room(big)
        for obj in self.static_objects:
            draw_object(big, obj, image2, depth2)
        image = cv2.resize(image2, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        _, depth = self._room(cam)
        for obj in self.static_objects:
            draw_object(cam, obj, np.empty((cam.height, cam.width, 3), np.uint8), depth)
        return np.ascontiguousarray(image), depth

    def _room(self, cam: View) -> tuple[np.ndarray, np.ndarray]:
        """Floor, ceiling, side walls and back wall: textured, lit by one point light, with a little haze."""
        surface, t = room_hits(cam, ROOM)  # 0 floor, 1 ceiling, 2 left, 3 right, 4 back (the front is behind us)
        hx, hy, hz = cam.hit_points(t)
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

        shade = lambert(hx, hy, hz, normal[..., 0], normal[..., 1], normal[..., 2])
        haze = np.exp(-t / 40.0)[..., None]
        rgb = albedo * shade[..., None] * haze + 0.55 * (1.0 - haze)
        return np.clip(rgb * 255.0, 0, 255).astype(np.uint8), t
