"""Real bags for the batch tests, written with rosbags: camera frames (the real clip's, looped) on an image topic,
plus topics batch must copy untouched: an IMU-like string stream, and /tf_static with its latched QoS."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from tests.conftest import VIDEO

TS = get_typestore(Stores.ROS2_HUMBLE)
T = TS.types
T0 = 1_700_000_000_123_456_789  # ns: a stamp no float64 seconds value carries exactly
LATCHED = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, QosTime(0, 0),
              QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False)


def clip_frames(count: int, width: int = 160) -> list[np.ndarray]:
    """`count` BGR frames of the real clip (looped back and forth so the scene stays continuous), downscaled."""
    with av.open(str(VIDEO / "realshort.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    frames = frames + frames[-2:0:-1]
    out = []
    for i in range(count):
        f = frames[i % len(frames)]
        out.append(cv2.resize(f, (width, width * f.shape[0] // f.shape[1]), interpolation=cv2.INTER_AREA))
    return out


def header(ns: int):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
                                    frame_id="cam")


def write_bag(path: Path, count: int = 12, fps: float = 10.0, storage=StoragePlugin.MCAP, topic="/camera/image_raw",
              compressed: bool = False, extra_image_topic: str = "") -> Path:
    """A bag whose log times lag the header stamps by 7 ms (a real recorder's delay): outputs must carry stamps."""
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    period = int(1e9 / fps)
    with Writer(path, version=9, storage_plugin=storage) as w:
        cam = w.add_connection(topic, msgtype, typestore=TS)
        imu = w.add_connection("/imu/status", "std_msgs/msg/String", typestore=TS)
        tf = w.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=TS, offered_qos_profiles=[LATCHED])
        other = w.add_connection(extra_image_topic, msgtype, typestore=TS) if extra_image_topic else None
        w.write(tf, T0, TS.serialize_cdr(T["tf2_msgs/msg/TFMessage"](transforms=[]), "tf2_msgs/msg/TFMessage"))
        for i, bgr in enumerate(clip_frames(count)):
            stamp = T0 + i * period
            if compressed:
                ok, jpg = cv2.imencode(".jpg", bgr)
                msg = T[msgtype](header=header(stamp), format="jpeg", data=jpg.reshape(-1))
            else:
                rgb = np.ascontiguousarray(bgr[..., ::-1])
                msg = T[msgtype](header=header(stamp), height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8",
                                 is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1))
            data = TS.serialize_cdr(msg, msgtype)
            w.write(cam, stamp + 7_000_000, data)
            if other is not None:
                w.write(other, stamp + 7_000_000, data)
            for k in range(3):  # a faster sensor between the frames
                note = T["std_msgs/msg/String"](data=f"imu {i}.{k}")
                w.write(imu, stamp + k * period // 3 + 1, TS.serialize_cdr(note, "std_msgs/msg/String"))
    return path


def write_video(path: Path, count: int = 20, fps: int = 10, gop: int = 0) -> Path:
    """A small H.264 clip of the real clip's frames; with `gop`, a keyframe every `gop` frames and no others."""
    with av.open(str(path), "w") as c:
        stream = c.add_stream("libx264", rate=fps)
        frames = clip_frames(count)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if gop:
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        for bgr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path
