"""`dataset demo`: RGB-D pairs from randomised ray-cast rooms (layout, textures, objects, camera pose) with exact depth.

Rendered with the public scene renderer (`streamer.scene`: the camera model at a pose, the room box, the object
ray-caster and the one point light the demo source uses too); what is random here is the typed `RandomScene`: the
room, the camera's pose and field of view, six surface textures, the objects and the exposure. Rooms are placed
around the light so it always hangs inside them. Depth is camera z-depth in metres, as in the demo.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from streamer.core.files import atomic_write
from streamer.geometry.camera import CameraModel, Mount
from streamer.scene import LIGHT_POS, Pose, Room, SceneObject, View, draw_object, lambert, room_hits
from streamer.train.camera_file import SUFFIX, camera_dict

MAX_MM = 65535  # uint16; rooms stay far below 65 m


@dataclass(frozen=True)
class Surface:
    """One room face's texture: `kind` of pattern with cells of `cell` metres in colours `a` and `b` (BGR 0..1)."""

    kind: str  # checker, stripes, planks, plain, blocks
    cell: float
    a: np.ndarray
    b: np.ndarray
    tones: np.ndarray  # 64 shade factors, one per cell (mod 64)


@dataclass(frozen=True)
class RandomScene:
    """Everything one frame of `dataset demo` shows: the room, where the camera is, what it sees, how it exposes."""

    room: Room
    pose: Pose
    hfov_deg: float
    surfaces: tuple[Surface, ...]  # one per face, in `streamer.scene.raycast.FACES` order
    objects: tuple[SceneObject, ...]
    gain: float
    tint: np.ndarray  # per channel
    noise: float  # sensor noise sigma, 8-bit levels

    def camera(self, width: int, height: int) -> CameraModel:
        return CameraModel.from_hfov(self.hfov_deg, width, height)


def random_scene(rng: np.random.Generator) -> RandomScene:
    """Room box, camera pose, surface textures and objects for one frame."""
    lx, _, lz = LIGHT_POS
    room = Room(x0=lx - rng.uniform(1.4, 4.0), x1=lx + rng.uniform(1.4, 4.0), height=rng.uniform(2.6, 3.8),
                z0=rng.uniform(-3.0, -0.5), z1=lz + rng.uniform(2.0, 16.0))
    cam = (rng.uniform(room.x0 + 0.4, room.x1 - 0.4), rng.uniform(0.4, 2.0), rng.uniform(room.z0 + 0.2, room.z0 + 1.5))
    pose = Pose(cam, yaw_deg=rng.uniform(-30, 30), pitch_deg=rng.uniform(-5, 25))
    hfov = rng.uniform(55, 85)
    surfaces = tuple(Surface(str(rng.choice(["checker", "stripes", "planks", "plain", "blocks"])),
                             rng.uniform(0.15, 1.2), rng.uniform(0.1, 0.95, 3), rng.uniform(0.1, 0.95, 3),
                             rng.uniform(0.75, 1.2, 64).astype(np.float32)) for _ in range(6))
    objects = []
    for i in range(int(rng.integers(1, 10))):
        shape: Literal["sphere", "box"] = "sphere" if rng.random() < 0.4 else "box"
        if shape == "sphere":
            r = rng.uniform(0.12, 0.7)
            size = (r, r, r)
        elif rng.random() < 0.2:  # a pillar or a cupboard, floor to ceiling
            size = (rng.uniform(0.15, 0.6), room.height / 2, rng.uniform(0.15, 0.6))
        else:
            size = tuple(rng.uniform(0.1, 0.8, 3))
        x = rng.uniform(room.x0 + size[0], room.x1 - size[0])
        z = rng.uniform(cam[2] + 1.0 + size[2], room.z1 - size[2])
        floating = rng.random() < 0.25
        y = rng.uniform(size[1], max(size[1], room.height - size[1])) if floating else size[1]
        objects.append(SceneObject(f"obj{i}", shape, (x, y, z), size, tuple(rng.uniform(0.1, 0.95, 3))))
    return RandomScene(room, pose, hfov, surfaces, tuple(objects), gain=rng.uniform(0.7, 1.25),
                       tint=rng.uniform(0.9, 1.1, 3), noise=rng.uniform(0.0, 3.0))


def _texture(s: Surface, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Albedo (N x 3, BGR 0..1) of surface `s` at surface coordinates (a, b) in metres."""
    cell = s.cell
    ia, ib = np.floor(a / cell), np.floor(b / cell)
    tone = s.tones[((ia * 7 + ib * 13) % 64).astype(np.int64)][:, None]
    col_a, col_b = np.asarray(s.a, np.float32), np.asarray(s.b, np.float32)
    kind = s.kind
    if kind == "checker":
        pick = ((ia + ib) % 2 == 0)[:, None]
        return np.where(pick, col_a, col_b) * tone
    if kind == "stripes":
        return np.where((ia % 2 == 0)[:, None], col_a, col_b * 0.8 + col_a * 0.2)
    if kind == "planks":  # boards of width cell/3, staggered joints, dark seams
        row = np.floor(b / (cell / 3))
        col = np.floor((a + row * cell * 0.37) / (cell * 2))
        seam = (np.abs(b % (cell / 3)) < 0.01)[:, None]
        t = s.tones[((row * 5 + col * 11) % 64).astype(np.int64)][:, None]
        return np.where(seam, col_a * 0.4, col_a * t)
    if kind == "blocks":  # random colour per cell between the two colours
        w = ((tone - 0.75) / 0.45).clip(0, 1)
        return col_a * w + col_b * (1 - w)
    grid = ((np.abs(a % cell) < 0.015) | (np.abs(b % cell) < 0.015))[:, None]
    return np.where(grid, col_a * 0.6, col_a * (0.95 + 0.05 * tone))


def _room(cam: View, scene: RandomScene) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the closed room box: image (H x W x 3 uint8) and z-depth (float32)."""
    surface, t = room_hits(cam, scene.room)
    hx, hy, hz = cam.hit_points(t)
    albedo = np.empty(t.shape + (3,), np.float32)
    normal = np.zeros(t.shape + (3,), np.float32)
    axes = [(hx, hz, (0, 1, 0)), (hx, hz, (0, -1, 0)), (hz, hy, (1, 0, 0)), (hz, hy, (-1, 0, 0)),
            (hx, hy, (0, 0, -1)), (hx, hy, (0, 0, 1))]
    for i, (a, b, n) in enumerate(axes):
        m = surface == i
        albedo[m] = _texture(scene.surfaces[i], a[m], b[m])
        normal[m] = n
    shade = lambert(hx, hy, hz, normal[..., 0], normal[..., 1], normal[..., 2])
    floor = surface == 0
    for obj in scene.objects:  # soft blob shadows under objects that stand on (or hover near) the floor
        x, y, z = obj.center
        radius = max(obj.size[0], obj.size[2]) * 1.3
        d2 = ((hx - x) ** 2 + (hz - z) ** 2) / (radius * radius)
        strength = 0.55 / (1.0 + 2.0 * (y - obj.size[1]))
        shade = np.where(floor, shade * (1.0 - strength * np.clip(1.0 - d2, 0.0, 1.0)), shade)
    haze = np.exp(-t / 40.0)[..., None]
    rgb = albedo * shade[..., None] * haze + 0.55 * (1.0 - haze)
    return np.clip(rgb * 255.0, 0, 255).astype(np.uint8), t


def render_scene(scene: RandomScene, width: int, height: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(BGR uint8, depth float32 metres): the image at 2x, shrunk (anti-aliased); the depth exact per pixel."""
    camera = scene.camera(width, height)
    cam = View(camera, scene.pose)
    big = View(camera.scaled(width * 2, height * 2), scene.pose)
    image2, depth2 = _room(big, scene)
    for obj in scene.objects:
        draw_object(big, obj, image2, depth2)
    image: np.ndarray = cv2.resize(image2, (width, height), interpolation=cv2.INTER_AREA)
    depth = room_hits(cam, scene.room)[1]
    scratch = np.empty((height, width, 3), np.uint8)
    for obj in scene.objects:
        draw_object(cam, obj, scratch, depth)
    gain = scene.gain * np.asarray(scene.tint, np.float32)
    noisy = image.astype(np.float32) * gain + rng.normal(0.0, scene.noise, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8), depth


def write_demo_dataset(out: str | os.PathLike, count: int, seed: int = 0, width: int = 640, height: int = 480,
                       progress=None) -> list[str]:
    """NAME.png + NAME.depth.png (uint16 millimetres) + NAME.camera.json (its camera and mount, `[camera]` keys) for
    `count` random scenes; frame i depends on (seed, i) only."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        scene = random_scene(rng)
        image, depth = render_scene(scene, width, height, rng)
        name = f"demo_{seed}_{i:05d}"
        camera = camera_dict(scene.camera(width, height), Mount(scene.pose.position[1], scene.pose.pitch_deg))
        atomic_write(out / f"{name}{SUFFIX}", (json.dumps(camera, indent=1) + "\n").encode())
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
