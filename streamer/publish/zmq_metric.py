"""The metric topics of the ZeroMQ publisher: `metric`, `points` and `truth` (WIRE.md), built only when wanted.

Each is serialised from what the frame record already carries (the steady stage made the metric map; the source
attached its truth); the point cloud is the one computation here, an exact back-projection (`geometry.backproject`)
done in the publisher's thread and only while someone subscribes to `points`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from streamer.core.frame import DepthFrame
from streamer.geometry import backproject
from streamer.geometry.fit import truth_at

OPTICAL_FRAME = "camera_optical"  # REP 103 optical frame: x right, y down, z forward
Message = tuple[bytes, dict, bytes | np.ndarray]


def metric_messages(frame: DepthFrame, wanted: Callable[[bytes], bool], header: Callable[..., dict], *,
                    send_metric: bool, send_points: bool, send_truth: bool, points_stride: int) -> Iterator[Message]:
    """(topic, header, payload) for each metric topic that is enabled, wanted and has something to say.
    `header(topic, frame, encoding, shape, dtype, **extra)` is the publisher's common header."""
    geo = {"unit": "m", "frame_id": OPTICAL_FRAME,
           "intrinsics": frame.camera.intrinsics() if frame.camera is not None else None}
    if frame.anchor is not None:
        geo["anchor"] = frame.anchor.header()
    metric = frame.metric
    if send_metric and metric is not None and wanted(b"metric"):
        arr = np.ascontiguousarray(metric, dtype="<f4")
        yield b"metric", header("metric", frame, "raw", arr.shape, "float32", **geo), arr
    if send_metric and metric is not None and frame.sigma is not None and wanted(b"metric_sigma"):
        sig = np.ascontiguousarray(frame.sigma.get(), dtype="<f4")  # computed here, in the publisher's thread
        yield b"metric_sigma", header("metric_sigma", frame, "raw", sig.shape, "float32", **geo), sig
    if send_points and metric is not None and frame.camera is not None and wanted(b"points"):
        cloud = backproject(metric, frame.camera, stride=points_stride, bgr=frame.captured.image)
        assert cloud.rgb is not None
        payload = cloud.xyz.astype("<f4", copy=False).tobytes() + cloud.rgb.tobytes()
        yield b"points", header("points", frame, "xyzrgb", (len(cloud), 3), "float32+uint8", points=len(cloud),
                                stride=points_stride, **geo), payload
    truth = frame.captured.truth_depth
    if send_truth and truth is not None and wanted(b"truth"):
        h, w = frame.depth.shape
        arr = np.ascontiguousarray(truth_at(truth, w, h), dtype="<f4")
        yield b"truth", header("truth", frame, "raw", arr.shape, "float32", **geo), arr
