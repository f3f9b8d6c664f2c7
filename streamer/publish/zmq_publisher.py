"""ZmqPublisher: depth arrays, colorized JPEGs and a status heartbeat on one ZeroMQ PUB socket (see WIRE.md).

Why PUB with a tiny SNDHWM and non-blocking sends: a PUB socket never waits for subscribers. When one subscriber
stops reading, ZeroMQ queues at most `hwm_frames` frames for it (plus the kernel's socket buffers) and silently drops
the rest for that subscriber only; the others, and the pipeline, carry on. Those per-subscriber drops are invisible
here - the subscriber sees them as gaps in `seq`. What this side counts is frames replaced in the slot before the
worker took them and sends refused with zmq.Again.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass

import numpy as np

from streamer.config.net import check_zmq_bind
from streamer.config.options import opt
from streamer.core.frame import DepthFrame
from streamer.core.redact import redact_data
from streamer.core.stats import RateMeter
from streamer.publish.base import Publisher
from streamer.publish.wire import METRIC_TOPICS, WIRE_VERSION
from streamer.publish.zmq_hub import ZmqHub
from streamer.publish.zmq_metric import metric_messages
from streamer.render.renderer import FrameRenderer
from streamer.render.views import VIEWS

log = logging.getLogger(__name__)
FRAME_TOPICS = (b"depth", b"color", *(t.encode() for t in METRIC_TOPICS))


@dataclass(frozen=True)
class ZmqPublisherOptions:
    host: str = opt("127.0.0.1", "interface to bind; 0.0.0.0 publishes to the whole network, unauthenticated")
    port: int = opt(5555, "TCP port to bind; 0 picks a free one (see `endpoint`)", min=0, max=65535)
    camera_id: str = opt("camera0", "camera id written into every header")
    send_depth: bool = opt(True, "publish the `depth` topic (relative inverse depth array)")
    send_color: bool = opt(True, "publish the `color` topic (colorized view as JPEG)")
    depth_field: str = opt("depth", "array on the depth topic: steadied `depth`, or the network's `raw` output",
                           choices=("depth", "raw"))
    depth_dtype: str = opt("float32", "depth payload dtype; float16 halves the bandwidth (about 3 significant "
                           "digits, plenty for relative depth)", choices=("float32", "float16"))
    color_view: str = opt("depth", "view rendered for the color topic", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality of the color topic", min=10, max=100)
    status_interval_s: float = opt(1.0, "period of the status heartbeat, sent with or without frames",
                                   unit="s", min=0.05, max=60.0)
    stale_after_s: float = opt(2.0, "the status says `stalled` after this long without a frame",
                               unit="s", min=0.1, max=300.0)
    send_metric: bool = opt(True, "publish the `metric` topic (z-depth in metres) while [metric] is anchored, and "
                                  "`metric_sigma` (its one-sigma error in metres) to whoever asks for it")
    send_points: bool = opt(True, "publish the `points` topic (XYZ + RGB in the camera optical frame)")
    send_truth: bool = opt(True, "publish the `truth` topic (true depth in metres; only the demo source has it)")
    points_stride: int = opt(2, "points: every n-th pixel of the metric map in each direction", unit="px", min=1,
                             max=32)
    hwm_frames: int = opt(2, "frames ZeroMQ queues per subscriber before dropping for it; small keeps frames "
                          "fresh and memory bounded", unit="frames", min=1, max=100)

    def validate(self) -> None:
        """Checks that need the outside world; the config loader calls it once before anything starts."""
        check_zmq_bind(self.host, self.port)


class ZmqPublisher(Publisher):
    """PUB socket publishing topics `depth`, `color` and `status` as [topic, JSON header, payload]."""

    section = "zmq"

    def __init__(self, options: ZmqPublisherOptions = ZmqPublisherOptions(), *,
                 renderer: FrameRenderer | None = None, hub: ZmqHub | None = None, stream: str | None = None) -> None:
        """`hub`: the socket shared with the other streams' publishers (None: its own, bound at start). `stream`:
        a named stream's id: its topics are `depth/ID`, `color/ID`, ... and every header's camera is ID."""
        super().__init__("zmq-publisher" if stream is None else f"zmq-{stream}")
        if options.send_color and renderer is None:
            raise ValueError("zmq.send_color needs a renderer")
        self.options = options
        self._renderer = renderer
        self._host = socket.gethostname()  # capture_mono is only comparable on the same host
        self.camera = stream if stream is not None else options.camera_id
        self._suffix = b"" if stream is None else b"/" + stream.encode()
        self.hub = hub if hub is not None else ZmqHub(options.host, options.port, hub_hwm(options))
        self._last_seq = -1
        self._last_sent_mono: float | None = None
        self._next_status = 0.0
        self._rate = RateMeter(window_s=5.0)  # frames sent, for the status heartbeat's fps

    @property
    def endpoint(self) -> str:
        """The address actually bound, e.g. tcp://127.0.0.1:5555 ("" before start)."""
        return self.hub.endpoint

    def _open(self) -> None:
        self.hub.open()
        self._next_status = 0.0

    def _send(self, frame: DepthFrame) -> None:
        o = self.options
        ok = True
        # Build a topic's message only when someone subscribed to it: a colour JPEG costs ~3 ms of a 2-core
        # budget that inference needs, and PUB would drop it unsent anyway.
        if o.send_depth and self._wanted(b"depth"):
            src = frame.depth if o.depth_field == "depth" else frame.raw
            # Little-endian, C-contiguous: no copy for the usual float32 array, so the send is zero-copy.
            arr = np.ascontiguousarray(src, dtype="<f2" if o.depth_dtype == "float16" else "<f4")
            header = self._header("depth", frame, "raw", arr.shape, o.depth_dtype, field=o.depth_field)
            ok &= self._send_message(b"depth", header, arr)
        if o.send_color and self._wanted(b"color"):
            assert self._renderer is not None
            jpeg = self._renderer.jpeg(frame, o.color_view, o.jpeg_quality)  # shared with the other publishers
            shape = self._renderer.image(frame, o.color_view).shape  # cached by the encode above: no work
            header = self._header("color", frame, "jpeg", shape, "uint8", view=o.color_view)
            ok &= self._send_message(b"color", header, jpeg)
        for topic, header, payload in metric_messages(frame, self._wanted, self._header, send_metric=o.send_metric,
                                                      send_points=o.send_points, send_truth=o.send_truth,
                                                      points_stride=o.points_stride):
            ok &= self._send_message(topic, header, payload)
        if ok:
            self.sent += 1
        else:
            self.send_drops += 1
        self._last_seq = frame.captured.seq
        self._last_sent_mono = time.monotonic()
        self._rate.tick(self._last_sent_mono)

    def audience(self) -> int:
        return self.subscribers()

    def subscribers(self) -> int:
        """How many frame topics (depth, color, metric, points, truth) have at least one subscriber right now."""
        return sum(1 for topic in FRAME_TOPICS if self._wanted(topic))

    def _wanted(self, topic: bytes) -> bool:
        full = topic + self._suffix
        if topic == b"metric_sigma":  # a prefix longer than `metric` (or everything): `metric` alone is no request
            return self.hub.wanted(full, lambda p: p == b"" or p.startswith(b"metric_"))
        return self.hub.wanted(full)

    def _tick(self) -> None:
        now = time.monotonic()
        if now < self._next_status:
            return
        self._next_status = now + self.options.status_interval_s
        header = {"v": WIRE_VERSION, "topic": "status", "camera": self.camera, "host": self._host,
                  "publish_wall": time.time(), "publish_mono": now, "encoding": "json"}
        self._send_message(b"status", header, json.dumps(redact_data(self._status(now)), default=str).encode())

    def _status(self, now: float) -> dict:
        state, reason = self._state(now)
        status = {"state": state, "reason": reason, "fps": round(self._rate.rate(now), 2),
                  "last_seq": self._last_seq, **self.counters()}
        if self.status is not None:
            try:
                status["stats"] = self.status.snapshot()
            except Exception as e:
                status["stats"] = {"error": repr(e)}
        return status

    def _state(self, now: float) -> tuple[str, str]:
        view = self.status
        try:
            reason = view.no_signal() if view is not None else None
            if reason:
                return "no_signal", reason
            if view is not None:
                health = view.health()
                if not health.ok:
                    return "unhealthy", health.reason
                if view.idle():  # paused on purpose (pause_when_idle): not "stalled"
                    return "idle", health.reason
        except Exception as e:
            return "unknown", f"pipeline status failed: {e!r}"
        if self._last_sent_mono is None:
            return "starting", "waiting for the first frame"
        if now - self._last_sent_mono > self.options.stale_after_s:
            return "stalled", f"no frame for {now - self._last_sent_mono:.1f} s"
        return "streaming", ""

    def _header(self, topic: str, frame: DepthFrame, encoding: str, shape: tuple, dtype: str, **extra: object) -> dict:
        f, meta = frame.captured, frame.meta
        return {
            "v": WIRE_VERSION, "topic": topic, "camera": self.camera, "host": self._host,
            "seq": f.seq, "capture_wall": f.capture_wall, "capture_mono": f.capture_mono,
            "done_mono": frame.done_mono, "publish_wall": time.time(), "publish_mono": time.monotonic(),
            "shape": [int(s) for s in shape], "dtype": dtype, "encoding": encoding,
            "depth_range": [float(x) for x in frame.depth_range], "align": [float(x) for x in frame.align],
            "infer_ms": float(frame.infer_ms), "model": meta.get("model"),
            "weights_sha256": meta.get("weights_sha256"), "weights_official": meta.get("weights_official"),
            "backend": meta.get("backend"), "precision": meta.get("precision", "fp32"),
            "precision_error": _error_summary(meta.get("precision_error")),
            **({"anchor": frame.anchor.header()} if frame.anchor is not None else {}), **extra,
        }

    def _send_message(self, topic: bytes, header: dict, payload: bytes | np.ndarray) -> bool:
        return self.hub.send(topic + self._suffix, json.dumps(redact_data(header), default=str).encode(), payload)

    def _close(self) -> None:
        self.hub.close()


def hub_hwm(options: ZmqPublisherOptions, streams: int = 1) -> int:
    """The socket's high-water mark in messages: a frame is one message per topic, and a heartbeat must fit behind
    it; with several streams on one socket, each stream's share."""
    o = options
    topics = int(o.send_depth) + int(o.send_color) + 2 * int(o.send_metric) + int(o.send_points) + int(o.send_truth)
    return (o.hwm_frames * topics + 1) * streams  # `metric` brings `metric_sigma` along: two messages


def _error_summary(error: dict | None) -> dict | None:
    """The last measured error of the serving precision against fp32 (None while fp32 serves: it is the reference)."""
    if not error:
        return None
    return {"nmae": error.get("nmae"), "worst_nmae": error.get("worst_nmae"), "corr": error.get("corr"),
            "frames": error.get("frames")}
