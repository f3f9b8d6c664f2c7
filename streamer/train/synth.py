"""`dataset demo`: RGB-D pairs from randomised ray-cast rooms (layout, textures, objects, camera pose) with exact depth.

Built on streamer/sources/demo_scene.py without changing it: its object ray-caster (`_draw`), lighting (`_lambert`,
one point light at LIGHT_POS) and screen-rectangle culling (`_Camera.roi`) are reused; the room and the camera are
parameterised here, because the demo's are module constants (one room, one viewpoint). Rooms are placed around
the demo's light so it always hangs inside them. Depth is camera z-depth in metres, as in the demo.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from streamer.sources import demo_scene as ds

MAX_MM = 65535  # uint16; rooms stay far below 65 m


class PoseCamera:
    """Pinhole camera at `pos`, yawed (about +y) and tilted down; rays scaled so t along them is z-depth.

    Provides what demo_scene's `_draw` expects: pos, dx/dy/dz (world ray directions), inv, and roi().
    """

    roi = ds._Camera.roi  # culling by projected bounding corners only needs project/width/height

    def __init__(self, width: int, height: int, f: float, cx: float, cy: float, pos, yaw_deg: float,
                 tilt_deg: float) -> None:
        self.width, self.height, self.f, self.cx, self.cy = width, height, f, cx, cy
        self.pos = np.asarray(pos, np.float64)
        yaw, tilt = math.radians(yaw_deg), math.radians(tilt_deg)
        pitch = np.array([[1, 0, 0], [0, math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), math.cos(tilt)]])
        turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
        self.rot = turn @ pitch  # camera -> world
        u = (np.arange(width, dtype=np.float64) - cx) / f
        v = (cy - np.arange(height, dtype=np.float64)) / f
        xc, yc = np.meshgrid(u, v)
        r = self.rot
        self.dx, self.dy, self.dz = (
            (r[i, 0] * xc + r[i, 1] * yc + r[i, 2]).astype(np.float32) for i in range(3))
        eps = np.float32(1e-9)
        self.inv = [1.0 / np.where(np.abs(d) < eps, eps, d) for d in (self.dx, self.dy, self.dz)]

    def project(self, points: np.ndarray):
        c = (np.asarray(points, np.float64) - self.pos) @ self.rot  # world -> camera (rot is orthonormal)
        return self.cx + self.f * c[:, 0] / c[:, 2], self.cy - self.f * c[:, 1] / c[:, 2], c[:, 2]


def random_scene(rng: np.random.Generator) -> dict:
    """Room box, camera pose, surface textures and objects for one frame."""
    lx, ly, lz = (float(v) for v in ds.LIGHT_POS)
    room = {"x0": lx - rng.uniform(1.4, 4.0), "x1": lx + rng.uniform(1.4, 4.0), "h": rng.uniform(2.6, 3.8),
            "z0": rng.uniform(-3.0, -0.5), "z1": lz + rng.uniform(2.0, 16.0)}
    cam = (rng.uniform(room["x0"] + 0.4, room["x1"] - 0.4), rng.uniform(0.4, 2.0),
           rng.uniform(room["z0"] + 0.2, room["z0"] + 1.5))
    pose = {"pos": cam, "yaw": rng.uniform(-30, 30), "tilt": rng.uniform(-5, 25), "hfov": rng.uniform(55, 85)}
    surfaces = [{"kind": rng.choice(["checker", "stripes", "planks", "plain", "blocks"]),
                 "cell": rng.uniform(0.15, 1.2), "a": rng.uniform(0.1, 0.95, 3), "b": rng.uniform(0.1, 0.95, 3),
                 "tones": rng.uniform(0.75, 1.2, 64).astype(np.float32)} for _ in range(6)]
    objects = []
    for i in range(int(rng.integers(1, 10))):
        shape: Literal["sphere", "box"] = "sphere" if rng.random() < 0.4 else "box"
        if shape == "sphere":
            r = rng.uniform(0.12, 0.7)
            size = (r, r, r)
        elif rng.random() < 0.2:  # a pillar or a cupboard, floor to ceiling
            size = (rng.uniform(0.15, 0.6), room["h"] / 2, rng.uniform(0.15, 0.6))
        else:
            size = tuple(rng.uniform(0.1, 0.8, 3))
        x = rng.uniform(room["x0"] + size[0], room["x1"] - size[0])
        z = rng.uniform(cam[2] + 1.0 + size[2], room["z1"] - size[2])
        floating = rng.random() < 0.25
        y = rng.uniform(size[1], max(size[1], room["h"] - size[1])) if floating else size[1]
        objects.append(ds.SceneObject(f"obj{i}", shape, (x, y, z), size, tuple(rng.uniform(0.1, 0.95, 3))))
    return {"room": room, "pose": pose, "surfaces": surfaces, "objects": objects,
            "gain": rng.uniform(0.7, 1.25), "tint": rng.uniform(0.9, 1.1, 3), "noise": rng.uniform(0.0, 3.0)}


def _texture(s: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Albedo (N x 3, BGR 0..1) of surface `s` at surface coordinates (a, b) in metres."""
    cell = s["cell"]
    ia, ib = np.floor(a / cell), np.floor(b / cell)
    tone = s["tones"][((ia * 7 + ib * 13) % 64).astype(np.int64)][:, None]
    col_a, col_b = np.asarray(s["a"], np.float32), np.asarray(s["b"], np.float32)
    kind = s["kind"]
    if kind == "checker":
        pick = ((ia + ib) % 2 == 0)[:, None]
        return np.where(pick, col_a, col_b) * tone
    if kind == "stripes":
        return np.where((ia % 2 == 0)[:, None], col_a, col_b * 0.8 + col_a * 0.2)
    if kind == "planks":  # boards of width cell/3, staggered joints, dark seams
        row = np.floor(b / (cell / 3))
        col = np.floor((a + row * cell * 0.37) / (cell * 2))
        seam = (np.abs(b % (cell / 3)) < 0.01)[:, None]
        t = s["tones"][((row * 5 + col * 11) % 64).astype(np.int64)][:, None]
        return np.where(seam, col_a * 0.4, col_a * t)
    if kind == "blocks":  # random colour per cell between the two colours
        w = ((tone - 0.75) / 0.45).clip(0, 1)
        return col_a * w + col_b * (1 - w)
    grid = ((np.abs(a % cell) < 0.015) | (np.abs(b % cell) < 0.015))[:, None]
    return np.where(grid, col_a * 0.6, col_a * (0.95 + 0.05 * tone))


def _room_hits(cam: PoseCamera, scene: dict):
    """Which of the six room faces each ray hits first (floor, ceiling, left, right, back, front) and at what t."""
    rm = scene["room"]
    px, py, pz = cam.pos
    dx, dy, dz = cam.dx, cam.dy, cam.dz
    with np.errstate(divide="ignore", invalid="ignore"):
        cands = np.stack([
            np.where(dy < 0, -py / dy, np.inf), np.where(dy > 0, (rm["h"] - py) / dy, np.inf),
            np.where(dx < 0, (rm["x0"] - px) / dx, np.inf), np.where(dx > 0, (rm["x1"] - px) / dx, np.inf),
            np.where(dz > 0, (rm["z1"] - pz) / dz, np.inf), np.where(dz < 0, (rm["z0"] - pz) / dz, np.inf)])
    surface = np.argmin(cands, axis=0)
    return surface, np.take_along_axis(cands, surface[None], axis=0)[0].astype(np.float32)


def _room(cam: PoseCamera, scene: dict) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the closed room box: image (H x W x 3 uint8) and z-depth (float32)."""
    surface, t = _room_hits(cam, scene)
    px, py, pz = cam.pos
    dx, dy, dz = cam.dx, cam.dy, cam.dz
    hx, hy, hz = px + t * dx, py + t * dy, pz + t * dz
    albedo = np.empty(t.shape + (3,), np.float32)
    normal = np.zeros(t.shape + (3,), np.float32)
    axes = [(hx, hz, (0, 1, 0)), (hx, hz, (0, -1, 0)), (hz, hy, (1, 0, 0)), (hz, hy, (-1, 0, 0)),
            (hx, hy, (0, 0, -1)), (hx, hy, (0, 0, 1))]
    for i, (a, b, n) in enumerate(axes):
        m = surface == i
        albedo[m] = _texture(scene["surfaces"][i], a[m], b[m])
        normal[m] = n
    shade = ds._lambert(hx, hy, hz, normal[..., 0], normal[..., 1], normal[..., 2])
    floor = surface == 0
    for obj in scene["objects"]:  # soft blob shadows under objects that stand on (or hover near) the floor
        x, y, z = obj.center
        radius = max(obj.size[0], obj.size[2]) * 1.3
        d2 = ((hx - x) ** 2 + (hz - z) ** 2) / (radius * radius)
        strength = 0.55 / (1.0 + 2.0 * (y - obj.size[1]))
        shade = np.where(floor, shade * (1.0 - strength * np.clip(1.0 - d2, 0.0, 1.0)), shade)
    haze = np.exp(-t / 40.0)[..., None]
    rgb = albedo * shade[..., None] * haze + 0.55 * (1.0 - haze)
    return np.clip(rgb * 255.0, 0, 255).astype(np.uint8), t


def render_scene(scene: dict, width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(BGR uint8, depth float32 metres): the image at 2x, shrunk (anti-aliased); the depth exact per pixel."""
    pose = scene["pose"]
    f = width / (2.0 * math.tan(math.radians(pose["hfov"]) / 2.0))
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cam = PoseCamera(width, height, f, cx, cy, pose["pos"], pose["yaw"], pose["tilt"])
    big = PoseCamera(width * 2, height * 2, f * 2, cx * 2 + 0.5, cy * 2 + 0.5, pose["pos"], pose["yaw"], pose["tilt"])
    image2, depth2 = _room(big, scene)
    for obj in scene["objects"]:
        ds._draw(big, obj, image2, depth2)
    image = cv2.resize(image2, (width, height), interpolation=cv2.INTER_AREA)
    depth = _room_depth(cam, scene)
    scratch = np.empty((height, width, 3), np.uint8)
    for obj in scene["objects"]:
        ds._draw(cam, obj, scratch, depth)
    gain = scene["gain"] * np.asarray(scene["tint"], np.float32)
    noisy = image.astype(np.float32) * gain + rng.normal(0.0, scene["noise"], image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8), depth


def _room_depth(cam: PoseCamera, scene: dict) -> np.ndarray:
    return _room_hits(cam, scene)[1]


def write_demo_dataset(out: str | os.PathLike, count: int, seed: int = 0, width: int = 640, height: int = 480,
                       progress=None) -> list[str]:
    """NAME.png + NAME.depth.png (uint16 millimetres) for `count` random scenes; frame i depends on (seed, i) only."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        image, depth = render_scene(random_scene(rng), width, height, rng)
        name = f"demo_{seed}_{i:05d}"
        mm = np.clip(np.round(depth * 1000.0), 1, MAX_MM).astype(np.uint16)  # every ray hits a wall: all valid
        for path, data in ((out / f"{name}.png", image), (out / f"{name}.depth.png", mm)):
            tmp = path.with_name(f".{path.name}.part.png")  # hidden while incomplete: the scanner skips it
            if not cv2.imwrite(str(tmp), data):
                raise OSError(f"cannot write {tmp}")
            os.replace(tmp, path)
        names.append(name)
        if progress:
            progress.update(1)
    return names
