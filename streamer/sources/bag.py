"""BagSource: `bag:///path/to/bag?topic=/camera/image_raw` - images from a ROS 2 bag, read with `rosbags`, no ROS.

Reads a rosbag2 folder (MCAP or sqlite3 storage) or a bare `.mcap`/`.db3` file. The topic may carry
sensor_msgs/msg/Image (rgb8, bgr8, mono8, yuv422 = UYVY, yuv422_yuy2 = YUYV, rgba8, bgra8, mono16) or
sensor_msgs/msg/CompressedImage (whatever OpenCV decodes: JPEG, PNG, ...). Frames are released at the pace of their
stamps (header.stamp, else the bag's receive time) like a camera, or, with `pace = false`, as fast as the network
takes them, every one (lossless, like a file). Each frame's `capture_wall` is its stamp, so what the daemon publishes
and records carries the time the robot saw it, not the time of the replay.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from streamer.photo.decode import PhotoError, sniff
from streamer.sources.av_source import fit_within
from streamer.sources.bag_check import one_line, open_problem, readable_messages
from streamer.sources.base import Source, SourceBroken
from streamer.sources.options import parse_bag_url
from streamer.sources.pacing import PaceClock

log = logging.getLogger(__name__)

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
ENCODINGS = ("rgb8", "bgr8", "mono8", "yuv422", "yuv422_yuy2", "rgba8", "bgra8", "mono16")


class BagSource(Source):
    """Plays one image topic of a bag; ends at its end (or loops)."""

    kind = "bag"
    _trusted: tuple[int | None, str] | None = None  # (messages before a damaged MCAP chunk, why), once known

    def _session(self) -> str | None:
        path, wanted = parse_bag_url(self.options.url)
        try:
            reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
            reader.open()
        except Exception as exc:  # rosbags raises its own errors, OSError, YAML errors ...
            raise SourceBroken(open_problem(path, exc)) from exc
        try:
            while True:
                got = self._play(reader, path, wanted)
                if self._stop.is_set():
                    return None
                if got == 0:
                    raise SourceBroken(f"{path}: no image on topic {wanted!r} could be decoded")
                if not self.options.loop:
                    return f"{path}: end of the bag"
        finally:
            reader.close()

    def _connections(self, reader: AnyReader, path: Path, wanted: str) -> list:
        images = sorted({(c.topic, c.msgtype) for c in reader.connections if c.msgtype in IMAGE_TYPES})
        if not wanted:
            if len(images) != 1:
                example = images[0][0] if images else "/camera/image_raw"
                raise SourceBroken(f"{path}: name the image topic, e.g. bag://{path}?topic={example}"
                                   f" (image topics in the bag: {', '.join(t for t, _ in images) or 'none'})")
            wanted = images[0][0]
        conns = [c for c in reader.connections if c.topic == wanted]
        if not conns:
            raise SourceBroken(f"{path}: no topic {wanted!r}; image topics in the bag: "
                               f"{', '.join(t for t, _ in images) or 'none'}")
        bad = [c.msgtype for c in conns if c.msgtype not in IMAGE_TYPES]
        if bad:
            raise SourceBroken(f"{path}: topic {wanted!r} carries {bad[0]}, not sensor_msgs/msg/Image or "
                               "CompressedImage")
        return conns

    def _play(self, reader: AnyReader, path: Path, wanted: str) -> int:
        """One pass over the topic; the frames emitted. A message that cannot be decoded is skipped and counted
        (the source fails instead when nothing was ever decoded); storage that cannot be read past a message ends
        the source naming the bag, topic and message, or, when looping, ends this pass as a counted skip."""
        conns = self._connections(reader, path, wanted)
        topic = conns[0].topic
        if self._trusted is None:  # once per source: the CRCs are the same on every pass
            self._trusted = readable_messages(path, topic)
        limit, damage = self._trusted
        clock = PaceClock() if self.options.pace else None
        got = index = 0
        messages = iter(reader.messages(connections=conns))
        while not self._stop.is_set():
            if limit is not None and index >= limit:  # the next message lies in a chunk that failed its CRC
                self._unreadable(f"{path} topic {topic}: cannot read past message {index} (damaged: {damage})")
                return got
            try:
                item = next(messages, None)
            except Exception as exc:  # sqlite's CorruptError, MCAP's record errors ...: nothing past this point
                self._unreadable(f"{path} topic {topic}: cannot read past message {index} ({one_line(exc)})")
                return got
            if item is None:
                break
            conn, bag_ns, raw = item
            index += 1
            try:
                msg: Any = reader.deserialize(raw, conn.msgtype)  # a sensor_msgs Image or CompressedImage
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 or bag_ns * 1e-9
                image = to_bgr(msg, conn.msgtype, self.options.max_pixels)
            except Exception as exc:  # garbage CDR, an undecodable or over-size picture
                self._skip(f"{path} topic {topic} message {index}: {one_line(exc)}", broken=got == 0)
                continue
            h, w = image.shape[:2]
            tw, th = fit_within(w, h, self.options.max_width, self.options.max_height)
            if (tw, th) != (w, h):
                image = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
            if clock is not None:
                wait = clock.delay(stamp)
                if wait > 0 and self._stop.wait(wait):
                    break
            self._note_format(w, h, getattr(msg, "encoding", "") or getattr(msg, "format", ""))
            self._emit(image, pts=stamp, capture_wall=stamp)
            got += 1
        return got

    def _skip(self, reason: str, broken: bool) -> None:
        """One message skipped: counted, its reason kept for /stats and logged once per kind; SourceBroken when
        nothing was ever decoded from this bag (the first message is bad: not a bag to replay)."""
        self.stats.decode_errors += 1
        if broken and self.stats.frames == 0:
            raise SourceBroken(reason)
        if self.stats.last_error.split(":")[-1] != reason.split(":")[-1]:
            log.warning("bag source: skipped %s", reason)
        self.stats.last_error = reason

    def _unreadable(self, reason: str) -> None:
        """Storage broken at a point: a played-once bag ends as a broken file; a looping one counts a skip of the
        rest and starts over (the good part stays a usable loop, the skip is said on /stats and once in the log)."""
        if not self.options.loop:
            raise SourceBroken(reason)
        self._skip(reason, broken=False)


def to_bgr(msg, msgtype: str, max_pixels: int = 8192 * 8192) -> np.ndarray:  # noqa: ANN001 -- a sensor_msgs message
    """H x W x 3 uint8 BGR, C-contiguous and owned, from an Image or CompressedImage; ValueError when it cannot,
    or when it is over `max_pixels` (a compressed image's size is read from its header, before decoding)."""
    if msgtype.endswith("CompressedImage"):
        try:
            fmt, w, h = sniff(np.asarray(msg.data, np.uint8).tobytes())
        except PhotoError as exc:
            raise ValueError(f"{msg.format or 'compressed'} image: {exc}") from None
        _check_pixels(w, h, max_pixels, fmt.upper())
        image = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode a {msg.format or 'compressed'} image ({len(msg.data)} bytes)")
        return image
    enc, h, w, step = msg.encoding.lower(), int(msg.height), int(msg.width), int(msg.step)
    if enc not in ENCODINGS:
        raise ValueError(f"image encoding {msg.encoding!r} is not supported (supported: {', '.join(ENCODINGS)})")
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "yuv422": 2, "yuv422_yuy2": 2, "rgba8": 4, "bgra8": 4,
                "mono16": 2}[enc]
    _check_pixels(w, h, max_pixels, enc)
    data = np.asarray(msg.data, np.uint8)
    if h <= 0 or w <= 0 or step < w * channels or data.size < step * h:
        raise ValueError(f"{w}x{h} {enc} image with step {step} does not fit its {data.size} bytes")
    rows = data[:step * h].reshape(h, step)[:, :w * channels]
    if enc == "mono16":
        px: np.ndarray = rows.copy().view(">u2" if msg.is_bigendian else "<u2").reshape(h, w)
        return cv2.cvtColor((px >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    px = rows.reshape(h, w, channels)
    code = {"rgb8": cv2.COLOR_RGB2BGR, "mono8": cv2.COLOR_GRAY2BGR, "yuv422": cv2.COLOR_YUV2BGR_UYVY,
            "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2, "rgba8": cv2.COLOR_RGBA2BGR, "bgra8": cv2.COLOR_BGRA2BGR}.get(enc)
    return cv2.cvtColor(px, code) if code is not None else np.ascontiguousarray(px).copy()


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise ValueError(f"{width}x{height} {what} image is over [source] max_pixels = {max_pixels}")
