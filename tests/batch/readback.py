"""Read a bag back with rosbags and with mcap (an independent reader and CDR decoder)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_HUMBLE)


def messages(bag: Path) -> dict[str, list[tuple[int, bytes]]]:
    """topic -> [(log time, serialized bytes)], in order, by rosbags."""
    out: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(bag) as r:
        for conn, t, data in r.messages():
            out.setdefault(conn.topic, []).append((t, bytes(data)))
    return out


def connections(bag: Path) -> dict[str, tuple]:
    """topic -> (msgtype, message definition, hash, serialization format, QoS profiles)."""
    with Reader(bag) as r:
        return {c.topic: (c.msgtype, c.msgdef.data, c.digest, c.ext.serialization_format,
                          c.ext.offered_qos_profiles) for c in r.connections}


def depth_maps(bag: Path, topic: str = "/camera/depth/relative_inverse") -> dict[int, np.ndarray]:
    """header stamp (ns) -> 32FC1 map, by rosbags."""
    out = {}
    with Reader(bag) as r:
        for conn, _t, data in r.messages(connections=[c for c in r.connections if c.topic == topic]):
            m = TS.deserialize_cdr(data, conn.msgtype)
            assert m.encoding == "32FC1"
            out[m.header.stamp.sec * 10**9 + m.header.stamp.nanosec] = \
                np.frombuffer(bytes(m.data), "<f4").reshape(m.height, m.width)
    return out


def mcap_decoded(bag: Path) -> dict[str, list]:
    """topic -> decoded messages, by the mcap library's reader and mcap-ros2-support's decoder."""
    (file,) = sorted(bag.glob("*.mcap"))
    out: dict[str, list] = {}
    with open(file, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, decoded in reader.iter_decoded_messages():
            out.setdefault(channel.topic, []).append(decoded)
    return out
