"""Back-projection is exact: every point projects back onto its pixel at its depth (1e-5 relative)."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry.camera import CameraModel
from streamer.geometry.cloud import backproject
from streamer.sources.demo_scene import ROOM_DEPTH_M, DemoScene, demo_camera, demo_mount


def test_backprojected_demo_truth_is_the_room() -> None:
    scene = DemoScene(320, 240)
    image, truth = scene.render(3)
    cam = demo_camera(320, 240)
    cloud = backproject(truth, cam, bgr=image)
    assert len(cloud) == truth.size  # all finite
    # exact against the textbook formula, in float64
    u, v = cloud.pixels[:, 0], cloud.pixels[:, 1]
    z = truth[v, u].astype(np.float64)
    ref = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], axis=1)
    assert np.abs(cloud.xyz - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.array_equal(cloud.rgb, image[v, u][:, ::-1])
    # in the base frame the floor is at height 0 and the back wall 15 m ahead
    base = demo_mount().to_base(cloud.xyz)
    on_floor = np.abs(base[:, 2]) < 2e-3
    on_back_wall = np.abs(base[:, 0] - ROOM_DEPTH_M) < 2e-3
    assert on_floor.mean() > 0.2 and on_back_wall.mean() > 0.02
    assert base[:, 2].min() > -2e-3  # nothing below the floor


def test_stride_and_invalid_pixels() -> None:
    cam = CameraModel(100.0, 100.0, 15.5, 11.5, 32, 24, k1=-0.2, k2=0.05)
    z = np.full((24, 32), 2.0, np.float32)
    z[0, 0] = np.nan
    z[0, 2] = np.inf  # beyond max range: no point
    z[2, 0] = -1.0
    cloud = backproject(z, cam, stride=2)
    assert len(cloud) == 16 * 12 - 3
    assert set(map(tuple, cloud.pixels.tolist())) == {(c, r) for r in range(0, 24, 2) for c in range(0, 32, 2)} - {
        (0, 0), (2, 0), (0, 2)}
    assert np.abs(cam.project(cloud.xyz) - cloud.pixels).max() < 1e-6  # distortion inverted exactly
    assert cloud.rgb is None


def test_backproject_refuses_a_camera_of_another_size() -> None:
    with pytest.raises(ValueError, match="scaled"):
        backproject(np.ones((24, 32), np.float32), demo_camera(64, 48))
    with pytest.raises(ValueError, match="stride"):
        backproject(np.ones((48, 64), np.float32), demo_camera(64, 48), stride=0)
