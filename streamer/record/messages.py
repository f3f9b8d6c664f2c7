"""A DepthFrame as ROS 2 messages, CDR-serialised by `rosbags` (no ROS install): what each bag topic carries.

Types: sensor_msgs/msg/Image (32FC1 relative inverse depth; 32FC1 metres when metric depth is on),
sensor_msgs/msg/CompressedImage (the colour view, the renderer's JPEG), sensor_msgs/msg/CameraInfo (the depth
image's intrinsics), sensor_msgs/msg/PointCloud2 (x y z float32 + rgb packed in a float32, as PCL and RViz read it),
tf2_msgs/msg/TFMessage (/tf_static: parent -> optical frame from the mount), std_msgs/msg/String (status JSON).
Every header.stamp is the frame's capture time; frame_id the optical frame (`[ros]`).
"""
from __future__ import annotations

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.typesys import Stores, get_typestore

from streamer.core.frame import DepthFrame
from streamer.geometry import CameraModel, Mount
from streamer.publish.cloud import cloud_points
from streamer.publish.topics import RosOptions, split_ns, stamp_ns

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)  # Humble's definitions: read by Humble, Iron, Jazzy and Foxglove
T = TYPESTORE.types
MSGTYPES = {"relative": "sensor_msgs/msg/Image", "metric": "sensor_msgs/msg/Image",
            "metric_sigma": "sensor_msgs/msg/Image",
            "color": "sensor_msgs/msg/CompressedImage", "camera_info": "sensor_msgs/msg/CameraInfo",
            "points": "sensor_msgs/msg/PointCloud2", "tf_static": "tf2_msgs/msg/TFMessage",
            "status": "std_msgs/msg/String"}
# /tf_static is latched in ROS 2 (reliable, transient local, keep last 1): recorded as offered so `ros2 bag play`
# republishes it the same way and a subscriber that joins later still gets the transform.
_FOREVER = QosTime(0, 0)  # the RMW default: no deadline, no lifespan, no lease
TF_STATIC_QOS = (Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _FOREVER,
                     _FOREVER, QosLiveliness.AUTOMATIC, _FOREVER, False),)


class RosMessages:
    def __init__(self, ros: RosOptions, points_stride: int = 2, depth_bits: int = 23) -> None:
        self.frame_id = ros.frame_id
        self.parent_frame_id = ros.parent_frame_id
        self.points_stride = points_stride
        self.depth_bits = depth_bits

    def _header(self, ns: int, frame_id: str | None = None):  # noqa: ANN202 -- std_msgs/msg/Header
        sec, nanosec = split_ns(ns)
        return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id or self.frame_id)

    def depth_image(self, frame: DepthFrame, depth: np.ndarray, stamp: int | None = None) -> bytes:
        """`stamp`: the header stamp in ns when it must be exact (a bag's own stamps; default: the frame's)."""
        data = keep_mantissa_bits(np.ascontiguousarray(depth, dtype="<f4"), self.depth_bits)
        h, w = data.shape
        msg = T["sensor_msgs/msg/Image"](header=self._header(_ns(frame, stamp)), height=h, width=w, encoding="32FC1",
                                         is_bigendian=0, step=4 * w, data=data.reshape(-1).view(np.uint8))
        return _cdr(msg)

    def compressed(self, frame: DepthFrame, jpeg: bytes) -> bytes:
        msg = T["sensor_msgs/msg/CompressedImage"](header=self._header(stamp_ns(frame)), format="jpeg",
                                                   data=np.frombuffer(jpeg, np.uint8))
        return _cdr(msg)

    def camera_info(self, frame: DepthFrame, camera: CameraModel, stamp: int | None = None) -> bytes:
        h, w = frame.depth.shape
        cam = camera.scaled(w, h)
        k = np.array([cam.fx, 0.0, cam.cx, 0.0, cam.fy, cam.cy, 0.0, 0.0, 1.0])
        p = np.array([cam.fx, 0.0, cam.cx, 0.0, 0.0, cam.fy, cam.cy, 0.0, 0.0, 0.0, 1.0, 0.0])
        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        msg = T["sensor_msgs/msg/CameraInfo"](header=self._header(_ns(frame, stamp)), height=h, width=w,
                                              distortion_model="plumb_bob", d=np.array(cam.distortion, float), k=k,
                                              r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0, roi=roi)
        return _cdr(msg)

    def point_cloud(self, frame: DepthFrame, metric: np.ndarray, camera: CameraModel,
                    stamp: int | None = None) -> bytes:
        points = cloud_points(frame, metric, camera, self.points_stride)
        rgba = points["rgba"].astype(np.uint32)
        packed = np.empty(len(points), np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")]))
        packed["x"], packed["y"], packed["z"] = points["x"], points["y"], points["z"]
        packed["rgb"] = (rgba[:, 0] << 16) | (rgba[:, 1] << 8) | rgba[:, 2]  # PCL's 0x00RRGGBB in a float32's bytes
        field = T["sensor_msgs/msg/PointField"]
        fields = [field(name=n, offset=o, datatype=7, count=1) for n, o in (("x", 0), ("y", 4), ("z", 8), ("rgb", 12))]
        msg = T["sensor_msgs/msg/PointCloud2"](header=self._header(_ns(frame, stamp)), height=1, width=len(packed),
                                               fields=fields, is_bigendian=False, point_step=16,
                                               row_step=16 * len(packed), data=packed.view(np.uint8).reshape(-1),
                                               is_dense=True)
        return _cdr(msg)

    def tf_static(self, ns: int, mount: Mount) -> bytes:
        (x, y, z), (qx, qy, qz, qw) = mount.transform()
        transform = T["geometry_msgs/msg/Transform"](translation=T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z),
                                                     rotation=T["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz,
                                                                                                w=qw))
        stamped = T["geometry_msgs/msg/TransformStamped"](header=self._header(ns, self.parent_frame_id),
                                                          child_frame_id=self.frame_id, transform=transform)
        return _cdr(T["tf2_msgs/msg/TFMessage"](transforms=[stamped]))

    def status(self, text: str) -> bytes:
        return _cdr(T["std_msgs/msg/String"](data=text))


def keep_mantissa_bits(depth: np.ndarray, bits: int) -> np.ndarray:
    """`depth` rounded to `bits` mantissa bits (23 = unchanged): relative error at most 2**-(bits + 1), NaN and inf
    kept as they are. The low bits become zeros, which the bag's zstd chunks then squeeze away."""
    if bits >= 23:
        return depth
    drop = 23 - bits
    u = depth.view("<u4").astype(np.uint64) + (1 << (drop - 1))
    out = (u & ~np.uint64((1 << drop) - 1)).astype("<u4").view("<f4")
    keep = ~np.isfinite(depth) | ~np.isfinite(out)  # never turn a NaN into inf, nor the largest values into inf
    out[keep] = depth[keep]
    return out


def _ns(frame: DepthFrame, stamp: int | None) -> int:
    """A float seconds stamp cannot carry every nanosecond of an epoch time: a bag's own stamp is passed exact."""
    return stamp_ns(frame) if stamp is None else stamp


def _cdr(msg) -> bytes:  # noqa: ANN001
    return bytes(TYPESTORE.serialize_cdr(msg, msg.__msgtype__))
