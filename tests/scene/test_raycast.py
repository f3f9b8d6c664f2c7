"""The public scene renderer against the camera model and mount of geometry/ (an independent implementation): its
rays are the camera model's rays, its floor is the mount's floor plane, its projection inverts its rays."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry.camera import CameraModel
from streamer.scene import Pose, Room, View, room_hits
from streamer.sources.demo_scene import ROOM, demo_camera, demo_mount, demo_pose


def world_to_base(p: np.ndarray) -> np.ndarray:  # scene world: x right, y up, z ahead; base: x fwd, y left, z up
    return np.stack([p[..., 2], -p[..., 0], p[..., 1]], axis=-1)


def test_the_demo_views_rays_are_the_camera_models_rays_through_the_mount():
    camera, mount = demo_camera(160, 120), demo_mount()
    view = View(camera, demo_pose())
    tip = view.pos + np.stack([view.dx, view.dy, view.dz], axis=-1).astype(np.float64)  # t = 1: one metre deep
    optical = mount.to_optical(world_to_base(tip).reshape(-1, 3)).reshape(120, 160, 3)
    x, y = camera.rays()
    np.testing.assert_allclose(optical[..., 2], 1.0, atol=2e-6)  # t is z-depth
    np.testing.assert_allclose(optical[..., 0], x, atol=2e-6)
    np.testing.assert_allclose(optical[..., 1], y, atol=2e-6)


def test_the_floor_is_the_mounts_floor_plane():
    camera, mount = demo_camera(160, 120), demo_mount()
    surface, t = room_hits(View(camera, demo_pose()), ROOM)
    floor = surface == 0
    assert floor.sum() > 160 * 40  # the lower part of the picture
    expected = 1.0 / mount.floor_inverse_depth(camera)
    np.testing.assert_allclose(t[floor], expected[floor], rtol=2e-6)
    assert np.isfinite(t).all() and (surface != 5).all()  # closed room; the front wall is behind the camera


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (25.0, 10.0), (-30.0, -5.0)])
def test_projection_inverts_the_rays_at_any_pose(yaw, pitch):
    view = View(CameraModel.from_hfov(70.0, 64, 48), Pose((0.4, 1.2, -0.5), yaw, pitch))
    rows, cols = np.mgrid[0:48:7, 0:64:9]
    z = 3.0
    points = view.pos + z * np.stack([view.dx[rows, cols], view.dy[rows, cols], view.dz[rows, cols]], -1)
    u, v, depth = view.project(points.reshape(-1, 3))
    np.testing.assert_allclose(depth, z, rtol=1e-6)
    np.testing.assert_allclose(u, cols.ravel(), atol=1e-4)
    np.testing.assert_allclose(v, rows.ravel(), atol=1e-4)


def test_a_room_seen_from_inside_is_closed_and_distortion_is_refused():
    view = View(CameraModel.from_hfov(120.0, 64, 48), Pose((0.0, 1.0, 0.0), 180.0, 0.0))  # looking at the front
    surface, t = room_hits(view, Room(-2.0, 2.0, 2.5, -3.0, 6.0))
    assert np.isfinite(t).all() and t.min() > 0 and (surface == 5).any()
    with pytest.raises(ValueError, match="without distortion"):
        View(CameraModel(50.0, 50.0, 31.5, 23.5, 64, 48, k1=0.1), Pose((0.0, 1.0, 0.0)))
