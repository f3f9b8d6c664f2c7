"""The official small-model preprocessing, checked against the network inputs the official code produced."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.model.preprocess import Preprocessor, network_size, normalise_rgb
from tests.conftest import IMAGES, MIDAS


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_preprocessing_matches_official_input(name):
    image = cv2.imread(str(IMAGES[name]))
    expected = np.load(MIDAS / "expected" / f"{name}.input.npy")
    got = Preprocessor()(image)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.parametrize("size, expected", [
    ((640, 480), (256, 192)),
    ((4898, 3265), (256, 160)),   # 170.7 rounds down to 160
    ((1280, 720), (256, 128)),    # 144/32 = 4.5: half to even -> 4
    ((480, 640), (192, 256)),     # portrait
    ((256, 256), (256, 256)),
    ((100, 100), (256, 256)),     # upscaled to the network size
    ((1000, 560), (256, 128)),    # 143.36/32 = 4.48 -> 4
    ((1000, 625), (256, 160)),    # exactly 5 multiples
    ((4000, 10), (256, 32)),      # extreme aspect: never a zero-sized side
])
def test_network_size_keeps_aspect_in_multiples_of_32(size, expected):
    assert network_size(*size) == expected


def test_round_half_to_even_then_floor_when_over_the_bound():
    # 256 x 208 -> scale 1, height 208 = 6.5 multiples: numpy rounds half to even -> 6 -> 192.
    assert network_size(256, 208) == (256, 192)
    # 256 x 240 -> 7.5 multiples -> 8 -> 256 (not over the bound, so no floor).
    assert network_size(256, 240) == (256, 256)
    # A larger net size is honoured.
    assert network_size(640, 480, net_size=384) == (384, 288)


def test_gray_and_bad_inputs():
    gray = np.full((48, 64), 128, np.uint8)
    assert Preprocessor()(gray).shape == (1, 3, 192, 256)
    with pytest.raises(ValueError, match="H x W x 3"):
        Preprocessor()(np.zeros((48, 64, 4), np.uint8))
    with pytest.raises(ValueError, match="positive"):
        network_size(0, 10)


def test_normalising_the_decoders_rgb_is_the_official_path_at_network_size():
    # at the network size the official resize is the identity: what is left is the normalisation, which must match
    rgb = np.random.default_rng(3).integers(0, 256, (192, 256, 3), np.uint8)
    official = Preprocessor(256)(np.ascontiguousarray(rgb[..., ::-1]))
    x = normalise_rgb(rgb)
    assert x.shape == official.shape == (1, 3, 192, 256) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x, official, atol=2e-6)
    with pytest.raises(ValueError, match="uint8 RGB"):
        normalise_rgb(rgb.astype(np.float32))


def test_uint8_mode_is_the_official_resize_on_the_8_bit_image():
    bgr = cv2.imread(str(IMAGES["lions"]), cv2.IMREAD_COLOR)
    exact, small = Preprocessor(256)(bgr), Preprocessor(256, mode="uint8")(bgr)
    assert small.shape == exact.shape and small.dtype == np.float32 and small.flags.c_contiguous
    diff = np.abs(small - exact)
    # rounded to 8 bits once (half a level, plus OpenCV's fixed-point weights and clipped overshoot at edges)
    assert 0 < diff.mean() < 0.5 / 255 / 0.224 and np.percentile(diff, 99) < 2.0 / 255 / 0.224
    assert Preprocessor(256, mode="uint8").mode == "uint8" and not Preprocessor(256, mode="uint8").exact
    with pytest.raises(ValueError, match="decoder-scaled"):
        Preprocessor(256, mode="decoder-scaled")  # needs a decoder, not a BGR array
