"""A long video in segments: each segment a work unit, stitched by the driver into the files `infer` writes.

A worker decodes its segment from the warm-up keyframe the planner chose (`Span`), runs every frame through the
daemon's per-frame path, and writes only the frames from its start: `depth.mp4` (H.264, its own first frame a
keyframe) and with `raw` `raw.npz` (the network's raw maps and their stamps), in a part folder renamed when whole.

The assembly copies the parts' H.264 packets into one mp4 without decoding them (each part's stamps moved on by the
parts before it) and joins the raw maps block by block, never all in memory (`pipeline/raw_maps.py`). The raw maps
are the network's output, which no earlier frame changes: the stitched arrays equal one pass's. The video shows the
steadied depth against its steadied range, both in the units of the frame that seeded the steady stage; the colours
are the same in any units, and the warm-up lets the estimate converge before a segment's first written frame
(tests/batch/test_videoparts.py measures the stitched video against one pass).
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import av

from streamer.batch.bagunit import UnitCounts
from streamer.batch.plan import END, Unit
from streamer.errors import StreamerError
from streamer.model import DepthModel
from streamer.pipeline.offline_video import Span, encode_video
from streamer.pipeline.raw_maps import RawMapsWriter, join_raw_maps

PART_VIDEO = "depth.mp4"
PART_RAW = "raw.npz"


def video_outputs(stem: str, raw: bool) -> list[str]:
    """The final names of a video's outputs, as `infer` writes them."""
    return [f"{stem}.depth.mp4", *([f"{stem}.depth.npz"] if raw else [])]


def run_video_segment(unit: Unit, model: DepthModel, conf: dict[str, Any], folder: Path,
                      tick: Callable[[int], None]) -> UnitCounts:
    """Write the segment's part video (and raw maps) into `folder` (a fresh temporary folder)."""
    batch = conf["batch"]
    span = Span(unit.warmup, unit.start, None if unit.end == END else unit.end)
    with RawMapsWriter(folder / PART_RAW) if batch.raw else nullcontext() as raw:
        result = encode_video(model, unit.input, folder / PART_VIDEO, view=batch.view, colors=conf["color"],
                              steady=conf["steady"], raw=raw, tick=tick, progress_stream=io.StringIO(), span=span)
    return UnitCounts(frames=result.frames, warmup=result.warmup)


def assemble_video(parts: list[Path], out: Path, stem: str, raw: bool) -> list[str]:
    """Write the video's final outputs under `out` from its parts, in order; each under a temporary name first."""
    names = video_outputs(stem, raw)
    tmp = [out / f".{name}.tmp-{os.getpid()}" for name in names]
    try:
        _concat_h264([p / PART_VIDEO for p in parts], tmp[0])
        if raw:
            join_raw_maps([p / PART_RAW for p in parts], tmp[1])  # block by block: never every map at once
        for path, name in zip(tmp, names, strict=True):
            os.replace(path, out / name)
    finally:
        for path in tmp:
            path.unlink(missing_ok=True)
    return names


def _concat_h264(parts: list[Path], dst_path: Path) -> None:
    with av.open(str(dst_path), "w", format="mp4") as dst:
        ostream: Any = None
        extradata = None
        offset = 0  # in the parts' time base: where the next part's first frame goes
        for path in parts:
            with av.open(str(path)) as src:
                stream = src.streams.video[0]
                if ostream is None:
                    ostream = dst.add_stream_from_template(stream)
                    extradata = stream.codec_context.extradata
                elif stream.codec_context.extradata != extradata:
                    raise StreamerError(f"{path}: its H.264 parameters differ from the first part's; run again")
                end = offset
                for packet in src.demux(stream):
                    if packet.dts is None:  # the demuxer's end-of-stream packet
                        continue
                    packet.pts = (packet.pts or 0) + offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = ostream
                    dst.mux(packet)
                offset = end
