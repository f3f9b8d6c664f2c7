"""The camera model and mount against the demo scene's own renderer (an independent implementation)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.geometry.camera import CameraModel, Mount, quaternion
from streamer.sources.demo_scene import ROOM_DEPTH_M, DemoScene, demo_camera, demo_mount


def world_to_base(p):  # demo world: x right, y up, z ahead; base (REP 103): x forward, y left, z up
    x, y, z = p
    return np.array([z, -x, y])


@pytest.mark.parametrize("point", [(0.3, 0.0, 3.0), (-1.2, 0.8, 5.5), (1.0, 2.5, 12.0), (0.0, 0.0, 2.0)])
def test_camera_and_mount_project_like_the_demo_renderer(point) -> None:
    scene = DemoScene(320, 240)
    u, v, z = scene.view.project(np.array([point]))
    cam, mount = demo_camera(320, 240), demo_mount()
    optical = mount.to_optical(world_to_base(point))
    assert optical[0, 2] == pytest.approx(z[0], rel=1e-9)
    assert cam.project(optical)[0] == pytest.approx([u[0], v[0]], abs=1e-6)
    assert mount.to_base(optical)[0] == pytest.approx(world_to_base(point), abs=1e-9)


def test_scaled_intrinsics_equal_the_model_at_that_resolution() -> None:
    big, small = demo_camera(640, 480), demo_camera(640, 480).scaled(256, 192)
    ref = demo_camera(256, 192)
    for key in ("fx", "fy", "cx", "cy"):
        assert getattr(small, key) == pytest.approx(getattr(ref, key), rel=1e-12)
    assert (small.width, small.height) == (256, 192)
    # the same world point lands on the same place of the image, in each resolution's pixel convention
    p = np.array([[0.4, -0.2, 3.0]])
    u_big, v_big = big.project(p)[0]
    u_small, v_small = small.project(p)[0]
    assert u_small == pytest.approx((u_big + 0.5) * 256 / 640 - 0.5)
    assert v_small == pytest.approx((v_big + 0.5) * 192 / 480 - 0.5)
    # non-uniform scale (a network size that is not the source's aspect): fx and fy scale apart
    odd = big.scaled(256, 224)
    assert odd.fx == pytest.approx(big.fx * 0.4) and odd.fy == pytest.approx(big.fy * 224 / 480)
    assert big.scaled(640, 480) is big


def test_distorted_rays_invert_the_distortion() -> None:
    cam = CameraModel(400.0, 410.0, 322.0, 236.0, 640, 480, k1=-0.28, k2=0.09, p1=0.001, p2=-0.0007, k3=-0.01)
    x, y = cam.rays()
    pts = np.stack([x.ravel(), y.ravel(), np.ones(x.size)], axis=1) * 2.5
    uv = cam.project(pts)
    u, v = np.meshgrid(np.arange(640.0), np.arange(480.0))
    assert np.abs(uv[:, 0] - u.ravel()).max() < 1e-6 and np.abs(uv[:, 1] - v.ravel()).max() < 1e-6
    pix = np.stack([u.ravel(), v.ravel()], 1)[::97].reshape(-1, 1, 2)
    stop = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
    ref = cv2.undistortPoints(pix, cam.matrix(), np.array(cam.distortion), R=None, P=None, criteria=stop)
    ref = ref.reshape(-1, 2)
    assert np.abs(ref[:, 0] - x.ravel()[::97]).max() < 1e-6 and np.abs(ref[:, 1] - y.ravel()[::97]).max() < 1e-6


def test_mount_rotation_quaternion_and_down_vector() -> None:
    level = Mount(1.0)
    assert level.down() == pytest.approx([0, 1, 0])
    assert Mount(1.0, pitch_deg=90).down() == pytest.approx([0, 0, 1])  # looking straight down
    assert Mount(1.0, roll_deg=90).down() == pytest.approx([1, 0, 0])  # right side down: optical +x points down
    m = Mount(0.7, pitch_deg=12.0, roll_deg=-5.0)
    r = m.rotation()
    assert r @ r.T == pytest.approx(np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    (tx, ty, tz), (qx, qy, qz, qw) = m.transform()
    assert (tx, ty, tz) == (0.0, 0.0, 0.7)
    back = np.array([
        [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
        [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
        [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)]])
    assert back == pytest.approx(r.T)  # the optical axes in the base frame
    for mat in (np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])):
        q = quaternion(mat)  # the trace <= 0 branches
        assert np.linalg.norm(q) == pytest.approx(1.0)


def test_floor_inverse_depth_matches_the_rendered_floor() -> None:
    scene = DemoScene(320, 240)
    _, truth = scene.render(0)
    g = demo_mount().floor_inverse_depth(demo_camera(320, 240))
    floor = np.abs(truth * g - 1.0) < 1e-4
    assert floor[-40:].mean() > 0.5  # the bottom rows are mostly floor
    assert not floor[:100].any()  # nothing above the horizon
    assert (truth[120, 160] > 0) and abs(truth.max() - ROOM_DEPTH_M) < 3.0


def test_bad_models_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        CameraModel(0.0, 1.0, 1.0, 1.0, 10, 10)
    with pytest.raises(ValueError, match="hfov"):
        CameraModel.from_hfov(180.0, 10, 10)
    with pytest.raises(ValueError, match="height"):
        Mount(0.0)
