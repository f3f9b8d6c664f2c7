"""A DepthFrame as Foxglove's well-known messages (foxglove-sdk's schemas): what each channel of the live view carries.

Only serialisation: the JPEG comes from the shared renderer, the camera model and mount from the frame (the steady
stage and `streamer.geometry` made them), the point cloud from `streamer.geometry`'s back-projection.
"""
from __future__ import annotations

import numpy as np
from foxglove.messages import (
    CameraCalibration,
    CompressedImage,
    FrameTransform,
    FrameTransforms,
    PackedElementField,
    PackedElementFieldNumericType,
    PointCloud,
    Pose,
    Quaternion,
    RawImage,
    Timestamp,
    Vector3,
)

from streamer.core.frame import DepthFrame
from streamer.geometry import CameraModel, Mount
from streamer.publish.cloud import CLOUD_DTYPE, cloud_points
from streamer.publish.topics import RosOptions, split_ns, stamp_ns

F32, U8 = PackedElementFieldNumericType.Float32, PackedElementFieldNumericType.Uint8
CLOUD_FIELDS = [PackedElementField(name=n, offset=o, type=t) for n, o, t in
                (("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("red", 12, U8), ("green", 13, U8), ("blue", 14, U8),
                 ("alpha", 15, U8))]


class FoxgloveMessages:
    def __init__(self, ros: RosOptions, points_stride: int = 2) -> None:
        self.frame_id = ros.frame_id
        self.parent_frame_id = ros.parent_frame_id
        self.points_stride = points_stride

    def stamp(self, frame: DepthFrame) -> int:
        return stamp_ns(frame)

    def _time(self, frame: DepthFrame) -> Timestamp:
        return Timestamp(*split_ns(stamp_ns(frame)))

    def compressed(self, frame: DepthFrame, jpeg: bytes) -> CompressedImage:
        return CompressedImage(timestamp=self._time(frame), frame_id=self.frame_id, data=jpeg, format="jpeg")

    def depth_image(self, frame: DepthFrame, depth: np.ndarray) -> RawImage:
        """32FC1, little-endian rows: relative inverse depth or metres, whichever `depth` is."""
        data = np.ascontiguousarray(depth, dtype="<f4")
        h, w = data.shape
        return RawImage(timestamp=self._time(frame), frame_id=self.frame_id, width=w, height=h, encoding="32FC1",
                        step=4 * w, data=data.tobytes())

    def calibration(self, frame: DepthFrame, camera: CameraModel) -> CameraCalibration:
        """The depth image's intrinsics (the camera model scaled to the depth map's size), ROS conventions."""
        h, w = frame.depth.shape
        cam = camera.scaled(w, h)
        k = [cam.fx, 0.0, cam.cx, 0.0, cam.fy, cam.cy, 0.0, 0.0, 1.0]
        p = [cam.fx, 0.0, cam.cx, 0.0, 0.0, cam.fy, cam.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return CameraCalibration(timestamp=self._time(frame), frame_id=self.frame_id, width=w, height=h,
                                 distortion_model="plumb_bob", D=list(cam.distortion), K=k,
                                 R=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], P=p)

    def point_cloud(self, frame: DepthFrame, metric: np.ndarray, camera: CameraModel) -> PointCloud:
        """The metric map back-projected in the optical frame, every `points_stride`-th pixel, invalid ones dropped,
        coloured from the captured frame."""
        points = cloud_points(frame, metric, camera, self.points_stride)
        identity = Pose(position=Vector3(x=0.0, y=0.0, z=0.0), orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
        return PointCloud(timestamp=self._time(frame), frame_id=self.frame_id, pose=identity,
                          point_stride=CLOUD_DTYPE.itemsize, fields=CLOUD_FIELDS, data=points.tobytes())

    def transforms(self, stamp: int, mount: Mount) -> FrameTransforms:
        (x, y, z), (qx, qy, qz, qw) = mount.transform()
        return FrameTransforms(transforms=[FrameTransform(
            timestamp=Timestamp(*split_ns(stamp)), parent_frame_id=self.parent_frame_id,
            child_frame_id=self.frame_id, translation=Vector3(x=x, y=y, z=z),
            rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))])
