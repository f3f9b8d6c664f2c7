"""One output bag per input bag, made on the driver when every segment of it is done.

Every message of the input is copied as it is: the same serialized bytes, log times, topics, types, message
definitions, serialization formats and offered QoS profiles. The depth topics come from the segments' part bags,
merged in log time. Segment k's relative depth is brought into segment 0's units: the steady estimate keeps the
units of the frame that seeded it, and each segment seeded on its own first warm-up frame; the last warm-up frames of
segment k are the last frames of segment k-1, so a least-squares scale and shift between the two maps of those frames
(chained from segment to segment) makes the stitched bag equal one pass over the input, after the warm-up. Nothing
else needs it: metric depth, camera info and point clouds do not depend on those units. The bag is written in a
temporary folder and renamed when whole.
"""
from __future__ import annotations

import heapq
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer

from streamer.batch.bagunit import OVERLAP_FILE, PART_BAG
from streamer.errors import StreamerError
from streamer.record.messages import TYPESTORE, keep_mantissa_bits

log = logging.getLogger(__name__)
Affine = tuple[float, float]
IDENTITY: Affine = (1.0, 0.0)


def unit_corrections(parts: list[Path]) -> list[Affine]:
    """Scale and shift per segment bringing its relative depth into segment 0's units."""
    out = [IDENTITY]
    for prev, part in zip(parts, parts[1:]):  # noqa: B905 -- one shorter by construction
        with np.load(prev / OVERLAP_FILE) as a, np.load(part / OVERLAP_FILE) as b:
            tail = dict(zip(a["tail_stamps"].tolist(), a["tail"], strict=True))
            pairs = [(head, tail[s]) for s, head in zip(b["head_stamps"].tolist(), b["head"], strict=True)
                     if s in tail and tail[s].shape == head.shape]
        if not pairs:
            log.warning("%s: no frame shared with the segment before it (warmup_s 0?): its relative depth keeps its "
                        "own units", part)
            out.append(IDENTITY)
            continue
        c0, d0 = out[-1]
        x = np.concatenate([h.ravel() for h, _ in pairs]).astype(np.float64)
        y = np.concatenate([t.ravel() for _, t in pairs]).astype(np.float64) * c0 + d0
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        var = x.var()
        c = float(((x - x.mean()) * (y - y.mean())).mean() / var) if var > 0 else 1.0
        out.append((c, float(y.mean() - c * x.mean())))
    return out


def _messages(reader: Reader, order: int) -> Iterator[tuple[int, int, Any, bytes]]:
    for conn, log_ns, data in reader.messages():
        yield log_ns, order, conn, data


def _parts_in_turn(parts: list[Path]) -> Iterator[tuple[int, int, Any, bytes]]:
    """The part bags' messages, one part after the other, each opened only while it is read: a segment's messages
    lie in its [start, end) and the segments follow each other, so this is their merge in log time. Merging them all
    at once would hold a chunk of every part (and a file) from the start: memory growing with the bag's length."""
    for order, part in enumerate(parts, 1):
        reader = Reader(part / PART_BAG)
        reader.open()
        try:
            yield from _messages(reader, order)
        finally:
            reader.close()


def _same_connection(writer: Writer, conn: Any) -> Any:
    """The input's connection, as it was: definition, hash, serialization format and QoS profiles."""
    ext = conn.ext
    kwargs: dict[str, Any] = {"serialization_format": ext.serialization_format,
                              "offered_qos_profiles": ext.offered_qos_profiles}
    if conn.msgdef.data and conn.digest:
        return writer.add_connection(conn.topic, conn.msgtype, msgdef=conn.msgdef.data, rihs01=conn.digest, **kwargs)
    return writer.add_connection(conn.topic, conn.msgtype, typestore=TYPESTORE, **kwargs)


def assemble_bag(source: Path, parts: list[Path], final: Path, compression: str, depth_bits: int,
                 relative_topic: str) -> None:
    """Write `final` (a rosbag2 folder, MCAP storage): the input copied plus the parts' depth topics."""
    corrections = unit_corrections(parts)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    reader = Reader(source)
    try:
        reader.open()
        part_conns = [_connections(p / PART_BAG) for p in parts]  # each part is read again in its turn
        writer = Writer(tmp / final.name, version=9, storage_plugin=StoragePlugin.MCAP)
        if compression == "zstd":
            writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        writer.set_custom_data("depth_streamer.depth_mantissa_bits", str(depth_bits))
        writer.open()
        try:
            _copy(reader, part_conns, parts, corrections, writer, depth_bits, relative_topic)
        finally:
            writer.close()
        if final.exists():
            shutil.rmtree(final)  # an older output of an input that has changed since
        os.rename(tmp / final.name, final)
    finally:
        if reader.is_open:
            reader.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _connections(bag: Path) -> list[Any]:
    with Reader(bag) as reader:
        return list(reader.connections)


def _copy(source: Reader, part_conns: list[list[Any]], parts: list[Path], corrections: list[Affine], writer: Writer,
          depth_bits: int, relative_topic: str) -> None:
    originals = {c.topic: c.msgtype for c in source.connections}
    conns: dict[tuple[int, int], Any] = {}
    by_key: dict[tuple, Any] = {}
    for order, connections in enumerate([list(source.connections), *part_conns]):
        for conn in connections:
            if order and conn.topic in originals:
                raise StreamerError(f"the input already has a topic {conn.topic} ({originals[conn.topic]}); choose "
                                    "another [ros] namespace for the depth topics")
            key = (conn.topic, conn.msgtype, repr(conn.ext))  # the parts share their topics: one connection each
            if key not in by_key:
                by_key[key] = _same_connection(writer, conn)
            conns[(order, conn.id)] = by_key[key]
    streams = [_messages(source, 0), _parts_in_turn(parts)]
    for log_ns, order, conn, data in heapq.merge(*streams, key=lambda m: (m[0], m[1])):
        if order and conn.topic == relative_topic and corrections[order - 1] != IDENTITY:
            data = _rescaled(data, conn.msgtype, corrections[order - 1], depth_bits)
        writer.write(conns[(order, conn.id)], log_ns, data)


def _rescaled(data: bytes, msgtype: str, affine: Affine, depth_bits: int) -> bytes:
    msg: Any = TYPESTORE.deserialize_cdr(data, msgtype)
    depth = np.frombuffer(bytes(msg.data), "<f4").astype(np.float64) * affine[0] + affine[1]
    msg.data = keep_mantissa_bits(depth.astype("<f4"), depth_bits).view(np.uint8)
    return bytes(TYPESTORE.serialize_cdr(msg, msgtype))
