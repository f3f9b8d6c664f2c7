"""Recorder: the black box. Depth frames become rosbag2 bags (MCAP storage) in the recorder's own thread.

It works like this: `publish` puts the frame in a bounded FIFO and returns (a full FIFO - a slow disk - drops the
frame from the recording, counted; the live outputs never wait). The thread takes frames in order, at most
`max_fps` of them a second, serialises them as ROS 2 messages (`streamer.record.messages`; the colour JPEG is the
renderer's, encoded once for every output) and writes them with `rosbags`' Writer into the open split. Every
`split_s` (or when a split reaches half of `max_total_mb`) the split is closed - summary, metadata.yaml, fsync - and
the oldest splits are deleted until the folder fits `max_total_mb`. Before the first split, splits a crash left open
are repaired or set aside (`streamer.record.splits.recover`). A write error (disk full, read-only, gone) closes what
can be closed, says so in /stats, /metrics, the status topics and the log, and is retried every `retry_s`.
"""
from __future__ import annotations

import json
import logging
import time
from typing import NamedTuple

from rosbags.interfaces import Connection
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer, WriterError

from streamer.core.frame import DepthFrame
from streamer.core.handoff import BoundedQueue
from streamer.core.redact import redact_data
from streamer.core.status import PipelineStatus
from streamer.publish.base import Publisher
from streamer.publish.topics import RosOptions, frame_geometry, stamp_ns
from streamer.record.messages import MSGTYPES, TF_STATIC_QOS, TYPESTORE, RosMessages
from streamer.record.options import RecordOptions
from streamer.record.splits import discard_if_empty, fsync_tree, new_split_path, recover, rotate
from streamer.render.renderer import FrameRenderer

log = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0


class Recorder(Publisher):
    section = "record"
    poll_s = 0.2

    def __init__(self, options: RecordOptions, ros: RosOptions, *, renderer: FrameRenderer,
                 points_stride: int = 2) -> None:
        self.options = options  # before the base class builds the queue from it
        super().__init__("recorder")
        self.ros = ros
        self.root = options.root
        self._points_stride = points_stride
        # Lane 0 is this recorder's own stream; `lane` adds the other streams of the daemon (one bag for all).
        self._lanes: list[_Lane] = [_Lane(ros, renderer, RosMessages(ros, points_stride, options.depth_bits))]
        self._writer: Writer | None = None
        self._conns: dict[str, Connection] = {}  # by topic: /tf_static is every stream's
        self._tf_written: set[int] = set()  # lanes whose mount is in the open split's /tf_static
        self._opened_mono = 0.0
        self._split_bytes = 0
        self._split_frames = 0  # frames in the open split: counted as recorded once it closes (lost if it cannot)
        self._next_retry = 0.0
        self._next_status = 0.0
        self._last_mono: dict[int, float] = {}  # per lane: max_fps holds for each stream
        # Several streams (record/feed.py): whose status the status topic carries, as (lane, status); None: lane 0's.
        self.status_of: tuple[int, PipelineStatus | None] | None = None
        self._logged_error = ""
        # Counters written only by the recorder thread (read by /stats).
        self.state = "starting"  # starting | recording | error | stopped
        self.error = ""  # why the recording is stopped now ("" while it runs)
        self.last_error = ""  # the latest write error, kept after a retry succeeded
        self.write_errors = 0
        self.split = ""
        self.bytes_written = 0
        self.frames_recorded = 0  # frames in closed splits (the open split's are added in `counters`)
        self.frames_lost = 0  # frames in splits a write error kept from closing (a later repair may save some)
        self.skipped_rate = 0  # frames left out on purpose (max_fps)
        self.splits_closed = 0
        self.splits_deleted = 0
        self.repaired: list[str] = []

    def _new_slot(self) -> BoundedQueue[DepthFrame]:  # type: ignore[override]
        return BoundedQueue(self.options.queue_frames)

    def _run(self) -> None:
        try:
            self.repaired = recover(self.root)
        except OSError as exc:
            self._fail(exc, "repairing earlier recordings")
        super()._run()

    # -- the recorder thread ---------------------------------------------------------------------------------------
    def lane(self, ros: RosOptions, renderer: FrameRenderer) -> int:
        """Another stream's lane into this recorder: its frames go into the same bag under its own [ros] names."""
        self._lanes.append(_Lane(ros, renderer, RosMessages(ros, self._points_stride, self.options.depth_bits)))
        return len(self._lanes) - 1

    def publish(self, frame: DepthFrame, lane: int = 0) -> None:
        self._slot.put((lane, frame))  # type: ignore[arg-type]  # the recorder's queue holds (lane, frame)

    def _send(self, item: tuple[int, DepthFrame]) -> None:  # type: ignore[override]
        o = self.options
        lane, frame = item
        mono = frame.captured.capture_mono
        last = self._last_mono.get(lane)
        if o.max_fps and last is not None and mono - last < 0.999 / o.max_fps:
            self.skipped_rate += 1
            return
        now = time.monotonic()
        if self._writer is not None and (now - self._opened_mono >= o.split_s
                                         or self._split_bytes >= o.max_total_mb * 5e5):
            self._close_split()
        if self._writer is None and not self._open_split(now):
            self.send_drops += 1  # lost to the write error, counted with the queue's drops
            return
        try:
            self._write_frame(self._lanes[lane], lane, frame)
        except (OSError, WriterError) as exc:
            self.send_drops += 1
            self._fail(exc, f"writing {self.split}")
            self._abandon_split()
            return
        self._last_mono[lane] = mono
        self._split_frames += 1
        self.sent += 1

    def _write_frame(self, lane: _Lane, index: int, frame: DepthFrame) -> None:
        m, stamp, ros = lane.messages, stamp_ns(frame), lane.ros
        camera, mount, metric = frame_geometry(frame)
        if mount is not None and index not in self._tf_written:  # once per split: every bag is complete alone
            self._write("tf_static", stamp, m.tf_static(stamp, mount), ros)
            self._tf_written.add(index)
        self._write("relative", stamp, m.depth_image(frame, frame.depth), ros)
        if self.options.color:
            jpeg = lane.renderer.jpeg(frame, self.options.color_view, self.options.jpeg_quality)
            self._write("color", stamp, m.compressed(frame, jpeg), ros)
        if camera is not None:
            self._write("camera_info", stamp, m.camera_info(frame, camera), ros)
            if metric is not None:
                self._write("metric", stamp, m.depth_image(frame, metric), ros)
                if frame.sigma is not None:  # a recording reads it: computed here, in the recorder's thread
                    self._write("metric_sigma", stamp, m.depth_image(frame, frame.sigma.get()), ros)
                self._write("points", stamp, m.point_cloud(frame, metric, camera), ros)

    def _write(self, kind: str, stamp: int, data: bytes, ros: RosOptions | None = None) -> None:
        """One message of `kind` on its topic under `ros`'s names (this recorder's own by default)."""
        assert self._writer is not None
        topic = (ros or self.ros).topic(kind)
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._conns[topic] = self._writer.add_connection(
                topic, MSGTYPES[kind], typestore=TYPESTORE,
                offered_qos_profiles=TF_STATIC_QOS if kind == "tf_static" else ())
        self._writer.write(conn, stamp, data)
        self._split_bytes += len(data)

    def _tick(self) -> None:
        now = time.monotonic()
        index, status = self.status_of or (0, self.status)
        if self._writer is None or now < self._next_status or status is None:
            return
        self._next_status = now + STATUS_EVERY_S
        lane = self._lanes[index]
        try:
            text = json.dumps(redact_data(status.snapshot()), default=str)
            self._write("status", time.time_ns(), lane.messages.status(text), lane.ros)
        except (OSError, WriterError) as exc:
            self._fail(exc, f"writing {self.split}")
            self._abandon_split()

    def _open_split(self, now: float) -> bool:
        if now < self._next_retry:
            return False
        path = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            path = new_split_path(self.root)
            writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
            if self.options.compression == "zstd":
                writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
            writer.set_custom_data("depth_streamer.depth_mantissa_bits", str(self.options.depth_bits))
            writer.open()
        except (OSError, WriterError) as exc:
            self._fail(exc, f"starting a split in {self.root}")
            if path is not None:
                discard_if_empty(path)  # a retry on a full disk leaves no empty split behind
            return False
        self._writer, self._conns, self._opened_mono, self._split_bytes, self._split_frames = writer, {}, now, 0, 0
        self._tf_written = set()
        self.split = path.name
        if self.state != "recording":
            log.info("recording to %s (a new split every %g s, at most %g MB in all)", self.root,
                     self.options.split_s, self.options.max_total_mb)
        if self.state == "error":  # room again: what a crash left while the disk was full can be repaired now
            try:
                self.repaired += recover(self.root, skip=path)
            except OSError as exc:
                log.warning("recording: repairing earlier splits failed again: %s", exc)
        self.state, self.error, self._logged_error = "recording", "", ""
        return True

    def _close_split(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()  # the MCAP summary and metadata.yaml: from now on any reader opens it
            fsync_tree(writer.path)
            self._count_split(recorded=True)
            self.splits_closed += 1
            gone = rotate(self.root, int(self.options.max_total_mb * 1e6))
            self.splits_deleted += len(gone)
            if gone:
                log.info("recording: deleted the oldest split(s) %s to stay under %g MB",
                         ", ".join(p.name for p in gone), self.options.max_total_mb)
        except (OSError, WriterError) as exc:
            self._fail(exc, f"closing {writer.path.name}")
            self._count_split(recorded=False)
            _abort(writer)

    def _abandon_split(self) -> None:
        """After a write error: try to close the split properly, else leave it for the next start's repair (or
        delete it when nothing of it reached the disk)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
        except Exception:
            self._count_split(recorded=False)
            _abort(writer)
            discard_if_empty(writer.path)
        else:
            self._count_split(recorded=True)

    def _count_split(self, recorded: bool) -> None:
        """The open split's frames and bytes go to the totals when it closed, to `frames_lost` when it could not."""
        if recorded:
            self.frames_recorded += self._split_frames
            self.bytes_written += self._split_bytes
        else:
            self.frames_lost += self._split_frames
        self._split_frames = self._split_bytes = 0

    def _fail(self, exc: BaseException, doing: str) -> None:
        self.state = "error"
        self.write_errors += 1
        self.error = self.last_error = (f"recording stopped: {doing} failed: {exc}. The live outputs continue; a "
                                        f"new split is tried every {self.options.retry_s:g} s (free space or fix "
                                        "[record] dir)")
        self._next_retry = time.monotonic() + self.options.retry_s
        if str(exc) != self._logged_error:  # once per distinct error, not once per frame
            self._logged_error = str(exc)
            log.error("%s", self.error)

    def _close(self) -> None:
        self._close_split()
        if self.state == "recording":
            self.state = "stopped"

    # -- observation ---------------------------------------------------------------------------------------------
    def audience(self) -> int:
        """A recording wants every frame: with [daemon] pause_when_idle, inference keeps running for it."""
        return 1

    def recording_ok(self) -> bool:
        """True (gauge 1) while splits are being written, False (0) after a write error (until a retry succeeds)."""
        return self.state != "error"

    def _split_age(self) -> float | None:
        return round(time.monotonic() - self._opened_mono, 2) if self._writer is not None else None

    def counters(self) -> dict:
        return {**super().counters(), "state": self.state, "error": self.error, "write_errors": self.write_errors,
                "last_error": self.last_error, "dir": str(self.root),
                "split": self.split, "split_age_s": self._split_age(),
                "bytes_written": self.bytes_written + self._split_bytes,
                "frames_recorded": self.frames_recorded + self._split_frames, "frames_lost": self.frames_lost,
                "skipped_max_fps": self.skipped_rate, "queue_dropped": self._slot.dropped,
                "splits_closed": self.splits_closed, "splits_deleted": self.splits_deleted,
                "repaired": list(self.repaired)}


class _Lane(NamedTuple):
    """One stream as the recorder writes it: its ROS names, its renderer (its colour JPEG), its message builder."""

    ros: RosOptions
    renderer: FrameRenderer
    messages: RosMessages


def _abort(writer: Writer) -> None:
    """Drop an open split whose close failed; its file stays for the next start's repair (closing its buffered file
    can fail again on a full disk: that loses nothing more)."""
    try:
        writer.abort()
    except OSError as exc:
        log.debug("recording: abandoning %s: %s", writer.path.name, exc)
