"""Stream: one camera of the daemon - its source, inbox, steadier, metric stage, worker, status board and its part of
every output - fed by the network every stream shares.

It works like this: the source's capture thread puts each decoded frame in the stream's own LatestSlot; the shared
network scheduler takes it in its turn and runs the network; this stream's "steady" thread steadies the result with
its own Steadier and MetricStage and hands the DepthFrame to its own publishers (its ZeroMQ topics on the shared
socket, its HTTP feed, ...). Nothing of one stream (alignment, EMA, range, metric fit, no-signal state, counters)
is ever another's. A stream of a config without [[streams]] is unnamed: today's topics, pages and /stats.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.stats import PipelineStats
from streamer.errors import SourceError
from streamer.model import DepthModel
from streamer.photo.depth import PhotoDepth
from streamer.pipeline.metrics import Metrics
from streamer.pipeline.scheduler import NetworkScheduler
from streamer.pipeline.status import Publishers, StatusBoard
from streamer.pipeline.worker import InferenceWorker
from streamer.publish.base import Publisher
from streamer.publish.foxglove import FoxglovePublisher
from streamer.publish.foxglove_hub import FoxgloveHub
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.imagezmq_publisher import ImageZmqHub, ImageZmqPublisher
from streamer.publish.zmq_hub import ZmqHub
from streamer.publish.zmq_publisher import ZmqPublisher
from streamer.record.feed import RecorderShare, RecordFeed
from streamer.record.recorder import Recorder
from streamer.render.renderer import FrameRenderer
from streamer.sources import create_source, source_kind
from streamer.sources.anchors import AnchorReceiver
from streamer.steady import MetricStage, Steadier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    """What a stream's outputs share with the other streams' (None where the stream has its own)."""

    zmq: ZmqHub | None = None  # the one XPUB socket
    http: HttpPublisher | None = None  # the one HTTP server (several streams: this stream is a feed of it)
    foxglove: FoxgloveHub | None = None  # the one Foxglove server (each stream's channels under its namespace)
    recorder: RecorderShare | None = None  # the one recorder (made with another stream): one bag for every stream
    imagezmq: ImageZmqHub | None = None  # the one imagezmq port (each stream's frames say its id)


class Stream:
    def __init__(self, conf: dict[str, Any], model: DepthModel, network: NetworkScheduler, metrics: Metrics,
                 *, named: bool, shared: Shared = Shared(), still: PhotoDepth | None = None,  # noqa: B008
                 http: HttpPublisher | None = None) -> None:
        """`conf`: this stream's effective config (see `streams_config`). `still`: what computes uploaded photos.
        `http`: a running HTTP server a reload adopts for an unnamed stream (else it builds its own)."""
        self.conf = conf
        self.id = conf["stream"].id
        self.named = named
        daemon = conf["daemon"]
        self.slot: LatestSlot[CapturedFrame] = LatestSlot()
        kind = source_kind(conf["source"].url)
        # Unpaced files (and an unpaced demo) are lossless: every decoded frame goes through the network once, in
        # order, the decoder waiting for the worker. Cameras and paced files stay newest-wins. Recordings wait for
        # the network to be warm (gated).
        self.lossless = kind in ("file", "demo", "bag") and not conf["source"].pace
        self.source = create_source(conf["source"], self.slot, lossless=self.lossless, gated=kind in ("file", "bag"))
        self.renderer = FrameRenderer(conf["color"], overlay_alpha=daemon.overlay_alpha)
        name = self.id if named else None
        if shared.http is not None:  # named streams are feeds of the pipeline's server
            http = HttpPublisher(conf["http"], renderer=self.renderer, still=shared.http.still,
                                 served_by=shared.http, stream=self.id)
        elif http is None:
            http = HttpPublisher(conf["http"], renderer=self.renderer, still=still)
        stride = conf["zmq"].points_stride  # one decimation for every point cloud output
        self.publishers = Publishers(
            zmq=ZmqPublisher(conf["zmq"], renderer=self.renderer, hub=shared.zmq, stream=name),
            http=http,
            imagezmq=ImageZmqPublisher(conf["imagezmq"], renderer=self.renderer, hub=shared.imagezmq, stream=name)
            if daemon.imagezmq else None,
            foxglove=FoxglovePublisher(conf["foxglove"], conf["ros"], renderer=self.renderer, points_stride=stride,
                                       hub=shared.foxglove, stream=name) if conf["foxglove"].enabled else None,
            recorder=self._recorder(conf, shared.recorder, stride) if conf["record"].enabled else None)
        metric = conf["metric"]
        self.anchors = AnchorReceiver(metric.anchors_endpoint, metric.max_anchors) if metric.mode == "points" else None
        self.metric = MetricStage(metric, conf["camera"], source_camera=self.source.camera,
                                  source_mount=self.source.mount, anchors=self.anchors,
                                  network=(model.weights_sha256, model.preprocess.net_size))
        stats = PipelineStats()  # the worker writes it, the board reads it: the board exists before the worker
        self.status = StatusBoard(source=self.source, slot=self.slot, stats=stats, model=model,
                                  publishers=self.publishers, metric=self.metric, source_url=conf["source"].url,
                                  pause_when_idle=daemon.pause_when_idle, stall_s=daemon.stall_s,
                                  exposition=metrics.exposition)
        self.worker = InferenceWorker(model, Steadier(conf["steady"]), self.slot, self.publishers.all,
                                      stats=stats, status=self.status, metrics=metrics.frames(self.id),
                                      metric=self.metric,
                                      network=network, max_fps=conf["stream"].max_fps,
                                      name=f"steady-{self.id}" if named else "steady")
        self.started: list[Publisher] = []

    def _recorder(self, conf: dict[str, Any], share: RecorderShare | None, stride: int) -> Recorder | RecordFeed:
        """One stream: its own recorder. Several: its feed of the one recorder every stream writes into (the first
        stream's makes it), which runs while any stream's feed does."""
        if share is None:
            recorder = Recorder(conf["record"], conf["ros"], renderer=self.renderer, points_stride=stride)
            if not self.named:
                return recorder
            share = RecorderShare(recorder)
        return share.feed(conf["ros"], self.renderer)

    def open(self, adopted: tuple[Publisher, ...] = ()) -> None:
        """Bind this stream's outputs (a taken port fails here, naming it: before any camera is opened), start
        its anchors receiver and its source. On error, stops what it started and raises."""
        try:
            for publisher in self.publishers.all:
                if publisher in adopted:
                    continue
                publisher.start(self.status)
                self.started.append(publisher)
            if self.anchors is not None:
                self.anchors.start()
            self.source.start(self.status)  # asks the board which network-input size its decoder should make
        except BaseException:
            self.stop(0.5)
            raise

    def first_size(self) -> tuple[int, int] | None:
        """(width, height) of the stream's first frame once it came (it stays for the worker), else None; raises
        SourceError when the source can never deliver (a file that cannot be decoded)."""
        failed = self.status.source_failed()
        if failed is not None:
            raise SourceError(f"cannot read the source{f' of stream {self.id}' if self.named else ''}: {failed}")
        first = self.slot.peek(0.0)
        return (first.shape[1], first.shape[0]) if first is not None else None

    @property
    def configured_size(self) -> tuple[int, int]:
        """The size to warm the network at without a first frame: [source] width x height, else 640x480."""
        return self.conf["source"].width or 640, self.conf["source"].height or 480

    def down(self) -> str | None:
        """Why the stream's camera is down and its source retrying (None while it is not)."""
        src = self.source.status()
        return (src.reason or "offline") if src.state == "offline" else None

    def run(self) -> None:
        """The network is warm: steady frames, and let a file waiting at its first frame play on."""
        self.worker.start()
        self.source.gate.set()

    def stop(self, timeout: float, keep: Publisher | None = None) -> None:
        """Upstream first, so nothing new flows into a stage that is shutting down; `keep` stays running."""
        self.source.stop(timeout)
        self.worker.stop(timeout)
        for publisher in self.started:
            if publisher is not keep:
                publisher.stop(timeout)
        if self.anchors is not None:
            self.anchors.stop(timeout)
