"""`[ros]`: the ROS names both the Foxglove server and the rosbag2 recorder use - topics, the optical frame, its
parent - and what of a frame they publish (stamps, the camera model, mount and metric map it carries).

One home for them, so a live Foxglove layout and a recorded bag show the same topic names and frames, and `ros2 bag
play` of a recording feeds a robot's own tools under the names its live view used. Stamps are the frame's capture
time (`capture_wall`, which a bag source sets from the recording's own stamps).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from streamer.config.options import opt
from streamer.core.frame import DepthFrame
from streamer.geometry import CameraModel, Mount

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class RosOptions:
    namespace: str = opt("/camera", "prefix of every image, calibration and point cloud topic (Foxglove channels and "
                                    "bag topics), e.g. /front_camera")
    frame_id: str = opt("camera_optical_frame", "frame_id of every image, calibration and point cloud: the camera's "
                                                "optical frame (REP 103: x right, y down, z forward)")
    parent_frame_id: str = opt("base_link", "parent of the optical frame in the mount's transform (Foxglove "
                                            "FrameTransforms, the bag's /tf_static)")

    def validate(self) -> None:
        parts = self.namespace.split("/")
        if not self.namespace.startswith("/") or self.namespace == "/" or not all(_NAME.fullmatch(p)
                                                                                  for p in parts[1:]):
            raise ValueError(f"namespace = {self.namespace!r}: must be a ROS name such as '/camera' (a leading /, "
                             "then words of letters, digits and _ separated by /)")
        for key in ("frame_id", "parent_frame_id"):
            value = getattr(self, key)
            if not _NAME.fullmatch(value):
                raise ValueError(f"{key} = {value!r}: must be a ROS frame name (letters, digits and _, not starting "
                                 "with a digit), e.g. 'camera_optical_frame'")
        if self.frame_id == self.parent_frame_id:
            raise ValueError(f"parent_frame_id = {self.parent_frame_id!r}: must differ from frame_id")

    def topic(self, kind: str) -> str:
        """The topic of `kind`: relative, metric, metric_sigma, color, camera_info, points, tf_static, tf, status."""
        if kind in ("tf_static", "tf"):
            return f"/{kind}"
        if kind == "status":
            return "/depth_streamer/status"
        return f"{self.namespace}/{TOPICS[kind]}"


TOPICS = {
    "relative": "depth/relative_inverse",  # 32FC1 relative inverse depth (bigger = nearer, no unit)
    "metric": "depth/image",  # 32FC1 metres (REP 118: NaN invalid, +inf beyond range), when metric depth is on
    "metric_sigma": "depth/image_sigma",  # 32FC1 metres: one sigma of depth/image per pixel (NaN where unpublished)
    "color": "color/compressed",  # the colorized view as JPEG (the renderer's, shared with ZeroMQ and HTTP)
    "camera_info": "depth/camera_info",  # intrinsics of the depth images (scaled to their size)
    "points": "points",  # the metric map back-projected, xyz float32 + rgb, optical frame
}


def stamp_ns(frame: DepthFrame) -> int:
    """The frame's capture time in nanoseconds since the epoch: every message's header stamp and log time."""
    return int(round(frame.captured.capture_wall * 1e9))


def split_ns(ns: int) -> tuple[int, int]:
    """(sec, nanosec) of a nanosecond stamp, as builtin_interfaces/Time and foxglove.Timestamp take it."""
    return ns // 1_000_000_000, ns % 1_000_000_000


def frame_geometry(frame: DepthFrame) -> tuple[CameraModel | None, Mount | None, np.ndarray | None]:
    """(camera model, mount, metric map) the frame carries; None for what it does not know. A metric map is only
    used with a camera model (without one it cannot be calibrated or back-projected)."""
    metric = frame.metric if frame.camera is not None else None
    return frame.camera, frame.mount, metric
