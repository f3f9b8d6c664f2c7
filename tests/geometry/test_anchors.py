"""Anchors: parsing, one-by-one checks naming the anchor, sampling across resolutions, the points fit."""
from __future__ import annotations

import numpy as np
import pytest

from streamer.geometry.anchors import AnchorSet, check, fit_points, sample


def test_parse_names_the_bad_item():
    with pytest.raises(ValueError, match=r"anchor 1: expected \[u, v, metres\]"):
        AnchorSet.parse([[1, 2, 3], [1, 2]])
    with pytest.raises(ValueError, match="anchor 0"):
        AnchorSet.parse([[1, "a", 3]])
    assert AnchorSet.parse([]).points.shape == (0, 3)


def test_check_refuses_each_bad_anchor_by_name():
    a = AnchorSet.parse([[10, 10, 2.0], [700, 5, 2.0], [5, 5, float("nan")], [5, 5, 0.0], [float("inf"), 1, 1],
                         [5, 5, -3]])
    ok, reasons = check(a, 640, 480)
    assert ok.tolist() == [True, False, False, False, False, False]
    assert reasons == ["anchor 1 (u=700, v=5, 2 m): outside the 640x480 image",
                       "anchor 2 (u=5, v=5, nan m): depth is not a finite number",
                       "anchor 3 (u=5, v=5, 0 m): depth must be more than 0 m",
                       "anchor 4 (u=inf, v=1, 1 m): u or v is not a finite number",
                       "anchor 5 (u=5, v=5, -3 m): depth must be more than 0 m"]


def test_sample_maps_pixels_between_resolutions():
    depth = np.arange(12 * 16, dtype=np.float32).reshape(12, 16)  # value = 16 v + u
    # pixel (9.5, 3.5) of a 32 x 24 image is the centre (4.5, 1.5) of the 16 x 12 map: bilinear 16 * 1.5 + 4.5
    a = AnchorSet.parse([[9.5, 3.5, 1.0], [0, 0, 1.0]], width=32, height=24)
    assert sample(depth, a, 640, 480) == pytest.approx([28.5, 0.0])
    same = AnchorSet.parse([[4, 2, 1.0]])
    assert sample(depth, same, 16, 12) == pytest.approx([36.0])


def test_fit_points_degenerate_layout_says_so():
    depth = np.tile(np.linspace(1, 2, 16, dtype=np.float32), (12, 1))  # depth varies along u only
    column = AnchorSet.parse([[5, v, 2.0] for v in range(0, 12, 3)])  # all on one column: one relative depth
    p = fit_points(depth, column, 16, 12)
    assert not p.fit.ok and "degenerate layout" in p.fit.reason and "4 of 4 anchors usable" in p.fit.reason
    row = AnchorSet.parse([[u, 5, 1.0 / (0.5 * depth[5, u])] for u in (1, 6, 11, 15)])
    good = fit_points(depth, row, 16, 12)
    assert good.fit.ok and good.used == 4 and good.fit.scale == pytest.approx(0.5, rel=1e-6)
