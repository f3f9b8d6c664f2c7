"""Colorize: every colormap, range clipping, log and CLAHE modes, resizing to the camera size."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamer.render.colorize import COLORMAPS, Colorizer, ColorOptions, colormap_lut
from tests.steady.synthetic import room

RANGE = (1 / 6.0, 1.0)


@pytest.mark.parametrize("name", list(COLORMAPS))
def test_each_colormap(name: str) -> None:
    c = Colorizer(ColorOptions(colormap=name))
    ramp = np.linspace(-1.0, 2.0, 300, dtype=np.float32)[None, :].repeat(4, 0)  # beyond the range both ways
    img = c.colorize(ramp, (0.0, 1.0))
    assert img.shape == (4, 300, 3) and img.dtype == np.uint8
    lut = colormap_lut(name)
    assert (img[:, 0] == lut[0, 0]).all() and (img[:, -1] == lut[255, 0]).all()  # clipped to the ends
    assert len({tuple(p) for p in img[0]}) > 50  # a real ramp of colors
    if name == "gray":
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
        assert (np.diff(img[0, :, 0].astype(int)) >= 0).all()


def test_colormaps_differ_and_default_is_inferno() -> None:
    truth = room()
    images = {n: Colorizer(ColorOptions(colormap=n)).colorize(truth, RANGE) for n in COLORMAPS}
    for a, b in itertools.combinations(images, 2):
        assert not np.array_equal(images[a], images[b]), (a, b)
    np.testing.assert_array_equal(Colorizer().colorize(truth, RANGE), images["inferno"])
    with pytest.raises(ValueError, match="colormap"):
        Colorizer(ColorOptions(colormap="rainbow-unicorn"))


def test_nan_does_not_crash() -> None:
    depth = room()
    depth[:5] = np.nan
    assert Colorizer().colorize(depth, RANGE).shape == depth.shape + (3,)


def test_log_spreads_the_far_end() -> None:
    truth = room()
    lin, log = Colorizer(ColorOptions(colormap="gray")), Colorizer(ColorOptions(colormap="gray", log=True))
    assert not np.array_equal(lin.colorize(truth, RANGE), log.colorize(truth, RANGE))
    value = np.full((2, 2), 0.1, np.float32)  # 10 % of the way up the range
    assert lin.normalize(value, (0.0, 1.0))[0, 0] == 26
    assert log.normalize(value, (0.0, 1.0))[0, 0] > 100
    assert log.normalize(np.array([[0.0, 1.0]], np.float32), (0.0, 1.0)).tolist() == [[0, 255]]  # ends fixed


def test_clahe_and_its_settings_change_the_output() -> None:
    truth = room()
    rng = np.random.default_rng(0)
    truth = truth + rng.normal(0, 0.01, truth.shape).astype(np.float32)
    outputs = [Colorizer(ColorOptions(**kw)).colorize(truth, RANGE) for kw in (
        dict(), dict(clahe=True), dict(clahe=True, clahe_clip=8.0), dict(clahe=True, clahe_grid=2))]
    for a, b in itertools.combinations(range(len(outputs)), 2):
        assert not np.array_equal(outputs[a], outputs[b]), (a, b)


def test_resize_to_camera_size_and_interpolations() -> None:
    truth = room()
    imgs = {}
    for interp in ("linear", "cubic", "nearest"):
        img = Colorizer(ColorOptions(interpolation=interp)).colorize(truth, RANGE, size=(640, 480))
        assert img.shape == (480, 640, 3) and img.dtype == np.uint8
        imgs[interp] = img
    assert not np.array_equal(imgs["linear"], imgs["cubic"])
    assert not np.array_equal(imgs["linear"], imgs["nearest"])
    same = Colorizer().colorize(truth, RANGE, size=(256, 192))
    np.testing.assert_array_equal(same, Colorizer().colorize(truth, RANGE))


def test_output_is_owned_by_the_caller() -> None:
    c, truth = Colorizer(), room()
    first = c.colorize(truth, RANGE)
    kept = first.copy()
    c.colorize(truth[::-1].copy(), RANGE)
    np.testing.assert_array_equal(first, kept)
