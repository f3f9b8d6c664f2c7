"""The packed point records: exact back-projection, coloured from the frame, made once per frame and stride."""
from __future__ import annotations

import dataclasses

import numpy as np

from streamer.geometry import CameraModel, backproject
from streamer.publish.cloud import cloud_points

from .conftest import make_frame


def test_points_are_the_exact_backprojection_made_once_per_frame():
    frame = make_frame(3, noise=True)
    h, w = frame.depth.shape
    metric = np.linspace(0.5, 4.0, h * w, dtype=np.float32).reshape(h, w)
    metric[2, 2] = np.nan
    camera = CameraModel(30.0, 31.0, 15.5, 11.5, w, h)
    frame = dataclasses.replace(frame, camera=camera, metric=metric)
    points = cloud_points(frame, metric, camera, 2)
    assert cloud_points(frame, metric, camera, 2) is points  # a second output reuses the first one's work
    assert not points.flags.writeable
    ref = backproject(metric, camera, stride=2, bgr=frame.captured.image)
    np.testing.assert_array_equal(np.stack([points["x"], points["y"], points["z"]], axis=1), ref.xyz)
    np.testing.assert_array_equal(points["rgba"][:, :3], ref.rgb)
    assert (points["rgba"][:, 3] == 255).all() and len(points) == (h // 2) * (w // 2) - 1
    assert len(cloud_points(frame, metric, camera, 1)) == h * w - 1  # another stride is another cloud
    other = make_frame(4, noise=True)
    assert cloud_points(other, metric, camera, 2) is not points
