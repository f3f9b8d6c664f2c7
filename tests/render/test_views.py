"""Views: shapes, side-by-side halves, overlay blending exact at alpha 0 and 1."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.render.views import VIEWS, ViewOptions, render_view


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    camera = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = rng.integers(0, 256, (192, 256, 3), dtype=np.uint8)  # network size: must be resized
    return camera, depth


def test_shapes() -> None:
    camera, depth = _inputs()
    assert render_view(camera, depth, ViewOptions("depth")).shape == (480, 640, 3)
    assert render_view(camera, depth, ViewOptions("side_by_side")).shape == (480, 1280, 3)
    assert render_view(camera, depth, ViewOptions("overlay")).shape == (480, 640, 3)
    assert all(render_view(camera, depth, ViewOptions(v)).dtype == np.uint8 for v in VIEWS)


def test_side_by_side_halves() -> None:
    camera, depth = _inputs()
    big = cv2.resize(depth, (640, 480), interpolation=cv2.INTER_LINEAR)
    out = render_view(camera, depth, ViewOptions("side_by_side"))
    np.testing.assert_array_equal(out[:, :640], camera)
    np.testing.assert_array_equal(out[:, 640:], big)
    np.testing.assert_array_equal(render_view(camera, depth, ViewOptions("depth")), big)


def test_overlay_alpha_ends_and_middle() -> None:
    camera, depth = _inputs()
    big = cv2.resize(depth, (640, 480), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(render_view(camera, depth, ViewOptions("overlay", 0.0)), camera)
    np.testing.assert_array_equal(render_view(camera, depth, ViewOptions("overlay", 1.0)), big)
    mid = render_view(camera, depth, ViewOptions("overlay", 0.25)).astype(float)
    expect = 0.75 * camera + 0.25 * big
    assert np.abs(mid - expect).max() <= 1.0


def test_out_buffer_is_used() -> None:
    camera, depth = _inputs()
    for view, shape in (("side_by_side", (480, 1280, 3)), ("overlay", (480, 640, 3)), ("depth", (480, 640, 3))):
        out = np.zeros(shape, np.uint8)
        assert render_view(camera, depth, ViewOptions(view), out=out) is out
        assert out.any()


def test_bad_arguments_and_defaults() -> None:
    camera, depth = _inputs()
    with pytest.raises(ValueError, match="view"):
        render_view(camera, depth, ViewOptions("mosaic"))
    with pytest.raises(ValueError, match="alpha"):
        render_view(camera, depth, ViewOptions("overlay", 1.5))
    np.testing.assert_array_equal(render_view(camera, depth), render_view(camera, depth, ViewOptions()))
    assert ViewOptions().view == "side_by_side"
