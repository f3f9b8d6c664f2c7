"""Picture: converted at most once whoever asks, from any number of threads; a BGR array cannot scale."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from streamer.core.frame import CapturedFrame
from streamer.core.picture import Picture


class Counting(Picture):
    """A picture whose conversions are slow and counted (so racing threads would overlap if the lock did not hold)."""

    can_scale = True

    def __init__(self) -> None:
        super().__init__(64, 48)
        self.calls = {"bgr": 0, "scaled": 0}

    def _convert_bgr(self) -> np.ndarray:
        self.calls["bgr"] += 1
        time.sleep(0.02)
        return np.full((48, 64, 3), self.calls["bgr"], np.uint8)

    def _convert_scaled(self, width: int, height: int) -> np.ndarray:
        self.calls["scaled"] += 1
        time.sleep(0.02)
        return np.full((height, width, 3), self.calls["scaled"], np.uint8)


def test_each_conversion_runs_once_however_many_threads_ask():
    picture = Counting()
    frame = CapturedFrame(0, picture, 0.0, 0.0)
    assert frame.shape == (48, 64) and not picture.converted  # the size is known without converting
    got: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: got.append(frame.image)) for _ in range(8)]
    threads += [threading.Thread(target=lambda: got.append(picture.scaled_rgb(32, 24))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert picture.calls == {"bgr": 1, "scaled": 1} and picture.converted
    assert all(g is frame.image for g in got if g.shape == (48, 64, 3))  # one kept array, shared
    assert sum(g.shape == (24, 32, 3) for g in got) == 8
    assert picture.scaled_rgb(16, 12).shape == (12, 16, 3) and picture.calls["scaled"] == 2  # another size: made
    fresh = picture.convert_bgr()  # what the precision stage times: made afresh, not kept
    assert picture.calls["bgr"] == 2 and fresh is not frame.image


def test_a_bgr_array_is_its_own_picture_and_cannot_scale():
    bgr = np.random.default_rng(0).integers(0, 255, (5, 7, 3), np.uint8)
    picture = Picture.of(bgr)
    assert (picture.width, picture.height) == (7, 5) and picture.converted and picture.bgr() is bgr
    assert not picture.can_scale and picture.scaled_rgb(4, 3) is None
    np.testing.assert_array_equal(picture.convert_bgr(), bgr)
    with pytest.raises(NotImplementedError, match="cannot scale"):
        picture.convert_scaled(4, 3)
