"""Work units, planned on the driver from each input's index, never from its frames.

A bag: its summary (rosbags reads the MCAP summary or the sqlite3 index: start, end, message counts) gives the time
span of the image topic; a bag longer than 1.5 x `segment_s` is cut every `segment_s` of log time (every image of a
bag is a keyframe: it decodes alone). A video: its packets are demuxed, not decoded, for the keyframe and frame
times; a long one is cut at keyframes (a segment decodes alone from its warm-up keyframe). Images: runs of
IMAGES_PER_UNIT files. A unit is a small picklable description: the input, its digest, a [start, end) range and
where its warm-up starts.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from rosbags.rosbag2 import Reader

from streamer.batch.inputs import Input
from streamer.batch.options import BatchOptions
from streamer.pipeline.offline_video import pts_ns
from streamer.sources.bag import IMAGE_TYPES

IMAGES_PER_UNIT = 64
END = -1  # a range's end: to the end of the input


class PlanError(Exception):
    """The input cannot be planned (unreadable, no such topic): one line naming the input and the fix."""


@dataclass(frozen=True)
class Unit:
    input: Path
    kind: str  # bag | video | images
    sha256: str  # the input's digest
    stem: str  # the input's output name, unique in the run
    index: int  # segment number within the input
    count: int  # segments of the input
    start: int  # bag: log time ns; video: frame time ns; images: first file index
    end: int  # exclusive; END = to the end
    warmup: int  # where decoding starts (<= start); frames before `start` only warm the steady stage up
    frames: int  # expected frames (the progress bar's total)
    topic: str = ""  # bag: the image topic
    files: tuple[Path, ...] = field(default=(), repr=False)  # images: this unit's files

    @property
    def key(self) -> str:
        """Stable across runs: the manifest's key."""
        return f"{self.sha256[:16]}:{self.index}:{self.start}-{self.end}"

    def row(self, **fields: object) -> dict:
        """The manifest row of this unit, with `fields` (status, error, outputs, counts)."""
        return {"input": str(self.input), "sha256": self.sha256, "unit": self.key, "index": self.index,
                "range": [self.start, self.end], "kind": self.kind, **fields}

    @property
    def assembled(self) -> bool:
        """Whether the driver makes the input's outputs from its units' parts: a bag's always, a video's when it was
        cut into segments."""
        return self.kind == "bag" or (self.kind == "video" and self.count > 1)

    @property
    def label(self) -> str:
        return f"{self.input} [{self.index + 1}/{self.count}]" if self.count > 1 else str(self.input)


def image_topics(reader: Reader) -> list[str]:
    return sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})


def choose_topic(reader: Reader, path: Path, wanted: str) -> str:
    topics = image_topics(reader)
    listed = ", ".join(topics) or "none"
    if wanted:
        if wanted not in topics:
            raise PlanError(f"{path}: no image topic {wanted!r}; its image topics: {listed}")
        return wanted
    if len(topics) != 1:
        raise PlanError(f"{path}: {'several' if topics else 'no'} image topics ({listed}); choose one with --topic")
    return topics[0]


def cuts(first: int, last: int, step: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering [first, last] every `step` (ns); one range when it is not 1.5 steps long."""
    if step <= 0 or last - first < 1.5 * step:
        return [(first, END)]
    bounds = list(range(first, last - step // 2, step))[1:]
    edges = [first, *bounds]
    return [(a, b) for a, b in zip(edges, [*bounds, END], strict=True)]


def plan_bag(item: Input, sha: str, stem: str, options: BatchOptions, topic: str, metric_mode: str) -> list[Unit]:
    try:
        reader = Reader(item.path)
        reader.open()
    except Exception as exc:  # rosbags' own errors, YAML, OSError, a torn MCAP without its summary
        raise PlanError(f"{item.path}: cannot read the bag ({exc}); corrupt or truncated?") from None
    try:
        chosen = choose_topic(reader, item.path, topic)
        conns = [c for c in reader.connections if c.topic == chosen]
        frames = sum(c.msgcount for c in conns)
        first, last = reader.start_time, reader.end_time
    finally:
        reader.close()
    if frames == 0:
        raise PlanError(f"{item.path}: topic {chosen} has no messages")
    # fixed metric depth is in the seed frame's units, which a segment cannot know: such inputs run whole
    step = 0 if metric_mode == "fixed" else int(options.segment_s * 1e9)
    ranges = cuts(first, last, step)
    warm = int(options.warmup_s * 1e9)
    span = max(last - first, 1)
    return [Unit(item.path, "bag", sha, stem, i, len(ranges), a, b, max(first, a - warm) if i else a,
                 round(frames * ((last if b == END else b) - a) / span) if len(ranges) > 1 else frames, chosen)
            for i, (a, b) in enumerate(ranges)]


def packet_times(path: Path) -> tuple[list[int], list[int]]:
    """(keyframe times, every frame's time), in ns, sorted, of the first video stream, from the demuxer alone."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            base = stream.time_base or Fraction(1, 1_000_000_000)
            keys, times = [], []
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                times.append(pts_ns(packet.pts, base))
                if packet.is_keyframe:
                    keys.append(times[-1])
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise PlanError(f"{path}: cannot read the video ({exc})") from None
    if not times:
        raise PlanError(f"{path}: no video frames")
    return sorted(keys), sorted(times)


def video_ranges(keys: list[int], times: list[int], step: int, warm: int) -> list[tuple[int, int, int]]:
    """(warm-up keyframe, start, end) per segment: a cut every `step` ns moved on to the next keyframe, so every
    segment decodes alone; its warm-up starts at the last keyframe at least `warm` ns before its start."""
    first, last = times[0], times[-1]
    starts = [first]
    for a, _b in cuts(first, last, step)[1:]:
        at = bisect.bisect_left(keys, a)
        if at < len(keys) and keys[at] > starts[-1] and keys[at] <= last:
            starts.append(keys[at])
    ends = [*starts[1:], END]
    out = []
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if i == 0:
            out.append((a, a, b))
            continue
        at = bisect.bisect_right(keys, a - warm) - 1
        out.append((keys[at] if at >= 0 else first, a, b))
    return out


def plan_video(item: Input, sha: str, stem: str, options: BatchOptions) -> list[Unit]:
    """One unit for a short video (its depth video and arrays written as `infer` writes them, see README); a long
    one is cut at keyframes into segments, stitched by the driver into the same files."""
    keys, times = packet_times(item.path)
    ranges = video_ranges(keys, times, int(options.segment_s * 1e9), int(options.warmup_s * 1e9))
    if len(ranges) == 1:
        return [Unit(item.path, "video", sha, stem, 0, 1, 0, END, 0, len(times))]
    return [Unit(item.path, "video", sha, stem, i, len(ranges), a, b, w,
                 bisect.bisect_left(times, b if b != END else times[-1] + 1) - bisect.bisect_left(times, a))
            for i, (w, a, b) in enumerate(ranges)]


def plan_images(item: Input, sha: str, stem: str) -> list[Unit]:
    files = item.images
    starts = list(range(0, len(files), IMAGES_PER_UNIT))
    return [Unit(item.path, "images", sha, stem, i, len(starts), s, min(s + IMAGES_PER_UNIT, len(files)), s,
                 len(files[s:s + IMAGES_PER_UNIT]), files=files[s:s + IMAGES_PER_UNIT])
            for i, s in enumerate(starts)]
