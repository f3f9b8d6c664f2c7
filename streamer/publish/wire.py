"""The ZeroMQ wire format, version 1, in code (WIRE.md says it in words): [topic, JSON header, payload].

Shared by the publisher (which writes it) and the client (which reads it); it needs only numpy and the stdlib.
"""
from __future__ import annotations

import json

import numpy as np

from streamer.core import jsonlimit

WIRE_VERSION = 1  # header["v"]; bumped only for changes an old reader would misread
TOPICS = ("depth", "color", "status")  # what a subscriber gets by default
METRIC_TOPICS = ("metric", "metric_sigma", "points", "truth")  # computed only while someone subscribes: ask for
# them by name (a subscription to "metric" alone does not make the daemon compute "metric_sigma")
ANCHORS_TOPIC = "anchors"  # sent *to* the daemon ([metric] mode = "points"), see WIRE.md

Payload = np.ndarray | bytes | dict


def decode(parts: list, *, max_header_bytes: int = 64 << 10,
           max_json_bytes: int = 64 << 20) -> tuple[str, dict, Payload]:
    """[topic, header JSON, payload] -> (topic, header, payload): an array for `raw`, JPEG bytes for `jpeg`,
    a dict for `json`. Arrays are read-only views of the received buffer (copy them to modify). ValueError naming
    what is wrong for anything else (JSON through the bounded reader: size, nesting and number length limited)."""
    if len(parts) != 3:
        raise ValueError(f"expected 3 message parts (topic, header, payload), got {len(parts)}")
    try:
        topic = bytes(parts[0]).decode()
    except UnicodeDecodeError:
        raise ValueError("the topic is not UTF-8 text") from None
    header = jsonlimit.loads(bytes(parts[1]), what="header", max_bytes=max_header_bytes)
    if not isinstance(header, dict):
        raise ValueError(f"header: expected a JSON object, got {type(header).__name__}")
    if header.get("v") != WIRE_VERSION:
        raise ValueError(f"wire version {header.get('v')!r:.20} not supported (this client reads v{WIRE_VERSION})")
    try:
        return topic, header, _payload(header, memoryview(parts[2]), max_json_bytes)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("payload"):
            raise
        raise ValueError(f"payload does not match the header ({type(exc).__name__}: {exc!s:.100})") from None


def _payload(header: dict, payload: memoryview, max_json_bytes: int) -> Payload:
    encoding = header["encoding"]
    if encoding == "raw":
        dtype = np.dtype(header["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"payload dtype {header['dtype']!r:.20}: only numbers")
        return np.frombuffer(payload, dtype=dtype).reshape(header["shape"])
    if encoding == "jpeg":
        return bytes(payload)
    if encoding == "json":
        return jsonlimit.loads(payload, what="payload", max_bytes=max_json_bytes)
    if encoding == "xyzrgb":  # N x 3 float32 XYZ, then N x 3 uint8 RGB
        n = int(header["points"])
        xyz = np.frombuffer(payload, dtype="<f4", count=3 * n).reshape(n, 3)
        rgb = np.frombuffer(payload, dtype=np.uint8, count=3 * n, offset=12 * n).reshape(n, 3)
        return {"xyz": xyz, "rgb": rgb}
    raise ValueError(f"unknown payload encoding {encoding!r:.40}")


def anchors_message(points, *, capture_wall: float, width: int = 0, height: int = 0, sender: str = "") -> list[bytes]:
    """The [topic, header, payload] a process sends to the daemon's anchors endpoint: `points` is N x 3
    (u, v, metres) in a width x height image's pixels (0 = the source frame's), measured at `capture_wall`
    (time.time() on the sender)."""
    arr = np.ascontiguousarray(points, dtype="<f8").reshape(-1, 3)
    header = {"v": WIRE_VERSION, "topic": ANCHORS_TOPIC, "capture_wall": float(capture_wall), "width": int(width),
              "height": int(height), "sender": sender, "shape": list(arr.shape), "dtype": "float64",
              "encoding": "raw"}
    return [ANCHORS_TOPIC.encode(), json.dumps(header).encode(), arr.tobytes()]
