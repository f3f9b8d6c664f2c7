"""DemoScene and DemoSource: deterministic frames, true depth where the objects really are, paced delivery."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from source_helpers import wait_for

from streamer.sources import DemoSource, SourceOptions, create_source
from streamer.sources.demo_scene import CAMERA_HEIGHT_M, ROOM_DEPTH_M, DemoScene


@pytest.fixture(scope="module")
def scene() -> DemoScene:
    return DemoScene(640, 480, fps=30, seed=0)


def test_shapes_types_and_a_closed_room(scene: DemoScene) -> None:
    image, depth = scene.render(0)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() > 1.0 and depth.max() <= ROOM_DEPTH_M * 1.01
    assert image.std() > 20  # texture and shading, not a flat fill
    small_image, small_depth = DemoScene(320, 240, seed=0).render(0)
    assert small_image.shape == (240, 320, 3) and small_depth.shape == (240, 320)


def test_deterministic_for_seed_and_index(scene: DemoScene) -> None:
    again = DemoScene(640, 480, fps=30, seed=0)
    for index in (0, 7, 123):
        a_img, a_depth = scene.render(index)
        b_img, b_depth = again.render(index)
        assert np.array_equal(a_img, b_img) and np.array_equal(a_depth, b_depth)
    other_img, _ = DemoScene(640, 480, fps=30, seed=1).render(7)
    assert not np.array_equal(other_img, scene.render(7)[0])
    first, later = scene.render(0), scene.render(45)
    assert not np.array_equal(first[1], later[1])  # things move


def nearest_point(obj, camera_pos: np.ndarray) -> tuple[float, float, float]:
    """A point on the object's surface facing the camera: the sphere point toward it, or the box's front face."""
    c = np.asarray(obj.center)
    if obj.shape == "sphere":
        towards = (camera_pos - c) / np.linalg.norm(camera_pos - c)
        return tuple(c + obj.size[0] * towards)
    return (c[0], c[1], c[2] - obj.size[2])


def test_objects_are_at_their_known_distances(scene: DemoScene) -> None:
    camera = np.array([0.0, CAMERA_HEIGHT_M, 0.0])
    checked = matched = 0
    for index in range(0, 300, 10):
        _, depth = scene.render(index)
        for obj in scene.objects(index):
            u, v, z = scene.depth_of(nearest_point(obj, camera))
            if not (0 <= u < 640 and 0 <= v < 480):
                continue
            checked += 1
            truth = float(depth[v, u])
            assert truth <= z * 1.02 + 0.02, (index, obj.name, truth, z)  # nothing behind shows through
            matched += abs(truth - z) <= 0.02 * z + 0.02  # unless another object passes in front
    assert checked >= 60 and matched >= 0.8 * checked, (matched, checked)


def test_floor_depth_matches_the_pinhole_model(scene: DemoScene) -> None:
    _, depth = scene.render(0)
    u, v, z = scene.depth_of((0.0, 0.0, 2.4))  # a floor point straight ahead, nearer than any object
    assert depth[v, u] == pytest.approx(z, rel=0.01)
    f = 320 / math.tan(math.radians(35))
    assert scene.camera.fx == scene.camera.fy == pytest.approx(f)


def test_render_is_cheap(scene: DemoScene) -> None:
    scene.render(1)
    started = time.perf_counter()
    for index in range(20):
        scene.render(index)
    per_frame_ms = (time.perf_counter() - started) / 20 * 1000
    assert per_frame_ms < 30, per_frame_ms  # ~4 ms on one core when idle; loose for busy machines


def test_demo_source_paced_frames_carry_truth_depth(running) -> None:
    source = running(create_source(SourceOptions(url="demo", width=320, height=240, fps=30, demo_seed=3)))
    assert isinstance(source, DemoSource)
    first = source.frames.get(timeout=5.0)
    assert first is not None
    counted_from = source.stats.frames
    time.sleep(1.0)
    assert 20 <= source.stats.frames - counted_from <= 40  # ~30 fps, loosely
    frame = source.frames.get(timeout=1.0)
    assert frame is not None and frame.truth_depth is not None
    assert frame.image.shape == (240, 320, 3) and frame.truth_depth.shape == (240, 320)
    assert frame.pts == pytest.approx(frame.seq / 30)
    image, depth = DemoScene(320, 240, fps=30, seed=3).render(frame.seq)
    assert np.array_equal(frame.image, image) and np.array_equal(frame.truth_depth, depth)
    stats = source.stats.snapshot()
    assert (stats.state, stats.width, stats.height, stats.pix_fmt) == ("live", 320, 240, "bgr24")


def test_demo_source_unpaced_and_stops_promptly() -> None:
    source = create_source(SourceOptions(url="demo", width=160, height=120, pace=False))
    source.start()
    assert wait_for(lambda: source.stats.frames >= 60, 10.0)
    started = time.monotonic()
    assert source.stop(timeout=2.0)
    assert time.monotonic() - started < 2.0 and source.frames.closed
    seqs = []
    while (frame := source.frames.get(timeout=0.0)) is not None:
        seqs.append(frame.seq)
    assert len(seqs) <= 1  # latest wins: at most the newest frame was waiting
