"""The randomised demo renderer: its camera and depth agree with geometry, whatever the pose."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.geometry.camera import CameraModel
from streamer.scene import SceneObject, View
from streamer.train.synth import random_scene, render_scene


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_depth_at_a_sphere_centre_is_its_geometric_z_depth(seed):
    rng = np.random.default_rng(seed)
    scene = random_scene(rng)
    cam_pos = np.asarray(scene.pose.position)
    rot = scene.pose.rotation()
    centre = cam_pos + rot @ np.array([0.1, -0.05, 2.5])  # 2.5 m straight ahead, whatever the yaw and tilt
    radius = 0.3
    scene = dataclasses.replace(scene, objects=(SceneObject("probe", "sphere", tuple(centre), (radius,) * 3,
                                                            (0.5, 0.5, 0.5)),))
    w, h = 160, 120
    image, depth = render_scene(scene, w, h, rng)
    assert image.shape == (h, w, 3) and depth.shape == (h, w) and np.isfinite(depth).all() and depth.min() > 0
    cam = View(CameraModel.from_hfov(scene.hfov_deg, w, h), scene.pose)
    u, v, z = cam.project(centre[None])
    assert z[0] == pytest.approx(2.5)
    dist = np.linalg.norm(centre - cam_pos)
    # Along the ray through the centre the sphere starts at dist - r; in z-depth that is z * (1 - r / dist).
    expected = z[0] * (1.0 - radius / dist)
    assert depth[int(round(v[0])), int(round(u[0]))] == pytest.approx(expected, rel=0.02)
