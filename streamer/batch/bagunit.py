"""One bag segment in a worker: the image topic's messages in [warm-up, end) -> the daemon's per-frame path ->
the depth topics of [start, end), written as a part bag (rosbags Writer, MCAP) under a temporary name.

Beside the part bag, `overlap.npz` keeps the steadied maps of the last OVERLAP frames of the warm-up (head) and of
the segment (tail), with their stamps: the same frames seen by two neighbouring segments, from which the assembly
brings every segment's relative depth into the units of the first (the steady estimate keeps the units of the
frame that seeded it, and a segment seeds on its own first frame). Metric depth, camera info and point clouds need
no such care: they do not depend on those units.
"""
from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from streamer.batch.plan import END, Unit
from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.errors import NonFiniteOutput, StreamerError
from streamer.model import DepthModel
from streamer.pipeline.worker import InferenceWorker
from streamer.publish.topics import frame_geometry
from streamer.record.messages import MSGTYPES, TYPESTORE, RosMessages
from streamer.sources.av_source import fit_within
from streamer.sources.bag import to_bgr
from streamer.steady import MetricStage, Steadier

log = logging.getLogger(__name__)
OVERLAP = 3  # frames whose maps two neighbouring segments compare
PART_BAG = "depth"  # the part bag's folder inside the unit's output folder
OVERLAP_FILE = "overlap.npz"


@dataclass
class UnitCounts:
    """What one unit did, for its manifest row."""

    frames: int = 0
    warmup: int = 0
    decode_errors: int = 0
    verdicts: dict[str, int] = field(default_factory=collections.Counter)  # steady status, metric verdict


def depth_messages(frame: DepthFrame, msgs: RosMessages, stamp: int, points: bool) -> list[tuple[str, bytes]]:
    """(kind, CDR bytes) of one frame as the recorder writes them, stamped with the source image's own stamp."""
    camera, _mount, metric = frame_geometry(frame)
    out = [("relative", msgs.depth_image(frame, frame.depth, stamp))]
    if camera is not None:
        out.append(("camera_info", msgs.camera_info(frame, camera, stamp)))
        if metric is not None:
            out.append(("metric", msgs.depth_image(frame, metric, stamp)))
            if frame.sigma is not None:  # the metric stage's per-pixel sigma (metres), as the recorder writes it
                out.append(("metric_sigma", msgs.depth_image(frame, frame.sigma.get(), stamp)))
            if points:
                out.append(("points", msgs.point_cloud(frame, metric, camera, stamp)))
    return out


def run_bag_unit(unit: Unit, model: DepthModel, conf: dict[str, Any], folder: Path,
                 tick: Callable[[int], None]) -> UnitCounts:
    """Write the unit's part bag and overlap maps into `folder` (a fresh temporary folder)."""
    batch, ros = conf["batch"], conf["ros"]
    source = conf["source"]
    metric = MetricStage(conf["metric"], conf["camera"])  # as the daemon: the camera model even with metric off
    worker = InferenceWorker(model, Steadier(conf["steady"]), LatestSlot(), outputs=(), metric=metric)
    msgs = RosMessages(ros, conf["zmq"].points_stride, batch.depth_bits)
    counts = UnitCounts()
    head: collections.deque = collections.deque(maxlen=OVERLAP)
    tail: collections.deque = collections.deque(maxlen=OVERLAP)
    try:
        reader = Reader(unit.input)
        reader.open()
    except Exception as exc:
        raise StreamerError(f"{unit.input}: cannot read the bag ({exc})") from None
    writer = Writer(folder / PART_BAG, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conns: dict[str, Any] = {}
    try:
        images = [c for c in reader.connections if c.topic == unit.topic]
        stop = None if unit.end == END else unit.end
        for conn, log_ns, raw in reader.messages(connections=images, start=unit.warmup, stop=stop):
            try:
                msg: Any = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec or log_ns
                image = to_bgr(msg, conn.msgtype, source.max_pixels)
            except Exception as exc:  # garbage CDR, an undecodable or over-size picture: skipped and counted
                counts.decode_errors += 1
                log.debug("%s: skipped an image at %d: %s", unit.input, log_ns, exc)
                continue
            h, w = image.shape[:2]
            tw, th = fit_within(w, h, source.max_width, source.max_height)
            if (tw, th) != (w, h):
                image = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
            seconds = stamp * 1e-9
            captured = CapturedFrame(seq=counts.frames + counts.warmup, picture=Picture.of(image),
                                     capture_wall=seconds, capture_mono=seconds, pts=seconds)
            try:
                frame = worker.process(captured)
            except NonFiniteOutput as exc:
                raise StreamerError(f"{unit.input} at {log_ns} ns: {exc}") from None
            if log_ns < unit.start:
                counts.warmup += 1
                head.append((stamp, frame.depth))
                continue
            counts.frames += 1
            counts.verdicts[frame.meta.get("steady", "?")] += 1
            if frame.anchor is not None:
                counts.verdicts[f"metric_{frame.anchor.verdict}"] += 1  # good | uncertain | refused
            tail.append((stamp, frame.depth))
            for kind, data in depth_messages(frame, msgs, stamp, batch.points):
                if kind not in conns:
                    conns[kind] = writer.add_connection(ros.topic(kind), MSGTYPES[kind], typestore=TYPESTORE)
                writer.write(conns[kind], log_ns, data)
            tick(1)
    finally:
        reader.close()
        writer.close()
    if counts.frames == 0:
        raise StreamerError(f"{unit.label}: no image on {unit.topic} could be decoded "
                            f"({counts.decode_errors} undecodable)")
    np.savez(folder / OVERLAP_FILE, head_stamps=np.array([s for s, _ in head], np.int64),
             head=np.stack([d for _, d in head]) if head else np.zeros((0, 1, 1), np.float32),
             tail_stamps=np.array([s for s, _ in tail], np.int64), tail=np.stack([d for _, d in tail]))
    return counts
