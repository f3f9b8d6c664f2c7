"""FoxglovePublisher: the live view for Foxglove, served by the official `foxglove-sdk` WebSocket server.

It works like this: `_open` starts the SDK's server (its own Rust threads) with a private `foxglove.Context`, so the
channels of one pipeline never mix with another's (SIGHUP builds a new pipeline), and a listener that counts each
channel's subscribers. The publisher's own thread takes the newest frame and, for each channel somebody subscribed
to, builds that message and logs it; a channel nobody watches costs nothing (not even the JPEG). The SDK queues at
most `client_backlog` messages per client and drops the oldest beyond that, so a stalled or vanished client never
holds frames, memory or this thread. Topics and frames come from `[ros]` (see `streamer.publish.topics`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import foxglove
from foxglove.channels import (
    CameraCalibrationChannel,
    CompressedImageChannel,
    FrameTransformsChannel,
    PointCloudChannel,
    RawImageChannel,
)

from streamer.config.net import host_problem
from streamer.config.options import opt
from streamer.core.frame import DepthFrame
from streamer.core.redact import redact_data
from streamer.publish.base import Publisher
from streamer.publish.foxglove_hub import FoxgloveHub
from streamer.publish.foxglove_messages import FoxgloveMessages
from streamer.publish.topics import RosOptions, frame_geometry
from streamer.render.renderer import FrameRenderer
from streamer.render.views import VIEWS

log = logging.getLogger(__name__)

STATUS_SCHEMA = {"type": "object", "title": "depth_streamer.Status",
                 "description": "the daemon's status heartbeat: state, reason, fps and the /stats document",
                 "properties": {"state": {"type": "string"}, "reason": {"type": "string"}, "fps": {"type": "number"},
                                "stats": {"type": "object"}}}


@dataclass(frozen=True)
class FoxgloveOptions:
    enabled: bool = opt(False, "serve the live view to Foxglove (WebSocket, subprotocol foxglove.sdk.v1)")
    host: str = opt("127.0.0.1", "interface to listen on; 0.0.0.0 serves the whole network, unauthenticated")
    port: int = opt(8765, "TCP port (Foxglove's default); 0 picks a free one", min=0, max=65535)
    color_view: str = opt("depth", "view sent on the color channel (the same JPEG as ZeroMQ's color topic when "
                                   "view and quality match theirs: encoded once)", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality of the color channel", min=10, max=100)
    status_interval_s: float = opt(1.0, "period of the status heartbeat and of the mount's FrameTransforms",
                                   unit="s", min=0.05, max=60.0)
    client_backlog: int = opt(16, "messages queued per client before the oldest is dropped for it: a slow client "
                                  "loses frames, never slows the pipeline or grows our memory", unit="messages",
                              min=2, max=1024)

    def validate(self) -> None:
        problem = host_problem(self.host)
        if problem:
            raise ValueError(f"host = {self.host!r}: {problem}")


class _Channel(Protocol):
    """What the publisher uses of a foxglove channel, typed (one message schema each) or schema-carrying."""

    def id(self) -> int: ...

    def log(self, message: Any, /, *, log_time: int | None = None) -> None: ...


class FoxglovePublisher(Publisher):
    """Channels: the color view (CompressedImage), relative depth (RawImage 32FC1), and, when the frames carry them,
    metric depth (RawImage 32FC1, metres), CameraCalibration, PointCloud and the mount's FrameTransforms; plus the
    status heartbeat as JSON."""

    section = "foxglove"

    def __init__(self, options: FoxgloveOptions, ros: RosOptions, *, renderer: FrameRenderer,
                 points_stride: int = 2, hub: FoxgloveHub | None = None, stream: str | None = None) -> None:
        """`hub`: the server shared with the other streams' publishers (None: its own). `stream`: a named stream's
        id: its status goes to `{namespace}/status` (the other channels are under its [ros] namespace anyway)."""
        super().__init__("foxglove-publisher" if stream is None else f"foxglove-{stream}")
        self.options = options
        self.ros = ros
        self.stream = stream
        self._renderer = renderer
        self._messages = FoxgloveMessages(ros, points_stride)
        self.hub = hub if hub is not None else FoxgloveHub(options.host, options.port, options.client_backlog)
        self._subs = self.hub.subs
        self._context: foxglove.Context | None = None
        self._server: foxglove.WebSocketServer | None = None
        self._channels: dict[str, _Channel] = {}
        self._next_status = 0.0
        self._problems: dict[str, str] = {}  # status notices shown in the Foxglove app: id -> message
        self._last_frame: DepthFrame | None = None
        self.messages = 0  # messages logged (to channels with a subscriber)

    @property
    def url(self) -> str:
        return self.hub.url

    @property
    def app_url(self) -> str:
        return self.hub.app_url

    def _topic(self, kind: str) -> str:
        return f"{self.ros.namespace}/status" if kind == "status" and self.stream is not None else self.ros.topic(kind)

    def _open(self) -> None:
        o = self.options
        self.hub.open()
        self._context, self._server = self.hub.context, self.hub.server
        ctx, topic = self._context, self._topic
        self._channels = {
            "color": CompressedImageChannel(topic("color"), context=ctx, metadata={"view": o.color_view}),
            "relative": RawImageChannel(topic("relative"), context=ctx, metadata={
                "unit": "none: relative inverse depth, bigger = nearer; scale and shift vary over time"}),
            "status": foxglove.Channel(topic("status"), schema=STATUS_SCHEMA, context=ctx),
        }
        self._next_status = 0.0

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def _channel(self, name: str) -> _Channel:
        """The channel `name`, advertised the first time a frame has what it carries (metric depth, a camera
        model, a mount): a client sees only channels that will publish."""
        channel: _Channel | None = self._channels.get(name)
        if channel is None:
            ctx, topic = self._context, self._topic(name)
            if name == "metric":
                channel = RawImageChannel(topic, context=ctx, metadata={"unit": "m (z-depth; NaN invalid, +inf "
                                                                                "beyond range)"})
            elif name == "camera_info":
                channel = CameraCalibrationChannel(topic, context=ctx)
            elif name == "points":
                channel = PointCloudChannel(topic, context=ctx)
            elif name == "tf":
                channel = FrameTransformsChannel(topic, context=ctx)
            else:
                raise KeyError(name)
            self._channels[name] = channel
        return channel

    def _wanted(self, name: str) -> bool:
        channel = self._channels.get(name)
        return channel is not None and self._subs.wanted(channel.id())

    def audience(self) -> int:
        return self.subscriptions()

    @property
    def dropped(self) -> int:
        """Frames our slot replaced, plus the messages the SDK dropped for clients that read too slowly."""
        return super().dropped + self.hub.sdk_log.dropped

    def counters(self) -> dict:
        return {**super().counters(), "client_dropped": self.hub.sdk_log.dropped,
                "connections": self.hub.sdk_log.connections}

    def subscriptions(self) -> int:
        """Client subscriptions to channels right now (a client watching three channels counts three)."""
        return self._subs.total(c.id() for c in list(self._channels.values()))

    def _send(self, frame: DepthFrame) -> None:
        m, stamp = self._messages, self._messages.stamp(frame)
        self._last_frame = frame
        camera, mount, metric = frame_geometry(frame)
        if camera is not None:
            self._channel("camera_info")
        if mount is not None:
            self._channel("tf")
        if metric is not None and camera is not None:
            self._channel("metric")
            self._channel("points")
        logged = 0
        if self._wanted("color"):
            o = self.options
            jpeg = self._renderer.jpeg(frame, o.color_view, o.jpeg_quality)  # shared: encoded once per frame
            self._log("color", m.compressed(frame, jpeg), stamp)
            logged += 1
        if self._wanted("relative"):
            self._log("relative", m.depth_image(frame, frame.depth), stamp)
            logged += 1
        if camera is not None and self._wanted("camera_info"):
            self._log("camera_info", m.calibration(frame, camera), stamp)
            logged += 1
        if metric is not None and self._wanted("metric"):
            self._log("metric", m.depth_image(frame, metric), stamp)
            logged += 1
        if metric is not None and camera is not None and self._wanted("points"):
            self._log("points", m.point_cloud(frame, metric, camera), stamp)
            logged += 1
        if logged:
            self.sent += 1

    def _log(self, name: str, message: object, stamp: int) -> None:
        self._channels[name].log(message, log_time=stamp)
        self.messages += 1

    def _tick(self) -> None:
        now = time.monotonic()
        if now < self._next_status:
            return
        self._next_status = now + self.options.status_interval_s
        status = self._status()
        self._show_problems(status)
        if self._wanted("status"):
            self._log("status", status, time.time_ns())
        frame = self._last_frame
        mount = frame_geometry(frame)[1] if frame is not None else None
        if mount is not None and self._wanted("tf"):  # static, but resent so a client that joins later has it
            self._log("tf", self._messages.transforms(time.time_ns(), mount), time.time_ns())

    def _status(self) -> dict:
        view = self.status
        status: dict = {"state": "unknown", "reason": "", "sent": self.sent, "messages": self.messages}
        if view is None:
            return status
        try:
            health, reason = view.health(), view.no_signal()
            status.update(state="no_signal" if reason else "streaming" if health.ok else "unhealthy",
                          reason=reason or ("" if health.ok else health.reason))
            stats = view.snapshot()
            status["fps"] = stats.get("fps_out")
            status["stats"] = stats
        except Exception as e:
            status.update(state="unknown", reason=f"pipeline status failed: {e!r}")
        return redact_data(status)

    def _show_problems(self, status: dict) -> None:
        """What is wrong - no signal, unhealthy, a publisher's error (the recorder's full disk) - as the Foxglove app's
        own problem notices (the server's status messages, same id each time), removed again once it is mended."""
        problems = {}
        if status["state"] in ("no_signal", "unhealthy", "unknown"):
            problems["pipeline"] = (f"depth-streamer: {status['reason']}", foxglove.StatusLevel.Warning)
        for name, counters in (status.get("stats") or {}).get("publishers", {}).items():
            if isinstance(counters, dict) and counters.get("error"):
                problems[name] = (f"depth-streamer {name}: {counters['error']}", foxglove.StatusLevel.Error)
        anchor = ((status.get("stats") or {}).get("metric") or {}).get("anchor") or {}
        if anchor.get("verdict") in ("uncertain", "refused"):  # what the metric map is worth, while it is in doubt
            problems["metric"] = (f"depth-streamer metric depth {anchor['verdict']}: {anchor.get('verdict_reason')}",
                                  foxglove.StatusLevel.Warning if anchor["verdict"] == "refused"
                                  else foxglove.StatusLevel.Info)
        if self._server is None:
            return
        if self.stream is not None:  # one server for every stream: each one's notices under its own ids
            problems = {f"{self.stream}:{k}": (f"[{self.stream}] {m}", lv) for k, (m, lv) in problems.items()}
        for key, (message, level) in problems.items():  # every tick: a client that connects later sees it too
            self._server.publish_status(message, level, id=key)
        gone = [key for key in self._problems if key not in problems]
        if gone:
            self._server.remove_status(gone)
        self._problems = {key: message for key, (message, _) in problems.items()}

    def _close(self) -> None:
        for name, channel in self._channels.items():
            if name == "tf" and self.hub.shared:
                continue  # /tf is every stream's channel (one per topic in a context): the last one closes it
            channel.close()  # type: ignore[attr-defined]
        self._channels = {}
        self._server = None
        self.hub.close()
