"""The ZeroMQ wire format, version 1, in code (WIRE.md says it in words): [topic, JSON header, payload].

Shared by the publisher (which writes it) and the client (which reads it); it needs only numpy and the stdlib.
"""
from __future__ import annotations

import json

import numpy as np

WIRE_VERSION = 1  # header["v"]; bumped only for changes an old reader would misread
TOPICS = ("depth", "color", "status")

Payload = np.ndarray | bytes | dict


def decode(parts: list) -> tuple[str, dict, Payload]:
    """[topic, header JSON, payload] -> (topic, header, payload): an array for `raw`, JPEG bytes for `jpeg`,
    a dict for `json`. Arrays are read-only views of the received buffer (copy them to modify)."""
    if len(parts) != 3:
        raise ValueError(f"expected 3 message parts (topic, header, payload), got {len(parts)}")
    topic = bytes(parts[0]).decode()
    header = json.loads(bytes(parts[1]))
    if header.get("v") != WIRE_VERSION:
        raise ValueError(f"wire version {header.get('v')!r} not supported (this client reads v{WIRE_VERSION})")
    payload = memoryview(parts[2])
    encoding = header["encoding"]
    if encoding == "raw":
        return topic, header, np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
    if encoding == "jpeg":
        return topic, header, bytes(payload)
    if encoding == "json":
        return topic, header, json.loads(bytes(payload))
    raise ValueError(f"unknown payload encoding {encoding!r}")
