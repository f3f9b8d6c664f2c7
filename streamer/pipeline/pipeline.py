"""Pipeline: one source, one inference worker and the publishers, built from one config, started and stopped together.

It works like this: the source's capture thread puts each decoded frame in a LatestSlot (newest wins); the inference
worker takes it, runs the network and the steadier, and hands the DepthFrame to every publisher's own slot; each
publisher's thread renders what it needs through the one shared FrameRenderer (a view is rendered and encoded once
per frame, whoever asks first) and sends it. Stages learn about each other only through the StatusBoard.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.stats import PipelineStats
from streamer.errors import SourceError
from streamer.model import DepthModel
from streamer.model.backends import default_threads
from streamer.model.photo_runner import PhotoRunner
from streamer.pipeline.metrics import Metrics
from streamer.pipeline.precision import PrecisionStage
from streamer.pipeline.status import Publishers, StatusBoard
from streamer.pipeline.worker import InferenceWorker
from streamer.publish.base import Publisher
from streamer.publish.foxglove import FoxglovePublisher
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.imagezmq_publisher import ImageZmqPublisher
from streamer.publish.zmq_publisher import ZmqPublisher
from streamer.record.recorder import Recorder
from streamer.render.renderer import FrameRenderer
from streamer.sources import create_source, source_kind
from streamer.sources.anchors import AnchorReceiver
from streamer.steady import MetricStage, Steadier

log = logging.getLogger(__name__)


def frames_in_flight(requested: int, lossless: bool, cores: int | None = None) -> int:
    """model.frames_in_flight resolved: `requested` when set; auto = 2 for a lossless source (throughput is what it
    is for) on 2+ cores, 1 for a camera (a frame's latency is)."""
    if requested:
        return requested
    return 2 if lossless and (cores if cores is not None else default_threads()) >= 2 else 1


class Pipeline:
    def __init__(self, conf: dict[str, Any], model: DepthModel, metrics: Metrics | None = None,
                 keep_http: HttpPublisher | None = None) -> None:
        """`metrics`: the process's registry (the Daemon's, so counters survive SIGHUP); a private one if None.
        `keep_http`: the previous pipeline's running HTTP server, adopted when its options are unchanged (SIGHUP):
        its listener, MJPEG viewers and uploads in flight carry on."""
        self.conf = conf
        self.model = model
        self.metrics = metrics if metrics is not None else Metrics()
        daemon = conf["daemon"]
        camera = conf["zmq"].camera_id
        self.slot: LatestSlot[CapturedFrame] = LatestSlot()
        kind = source_kind(conf["source"].url)
        # Unpaced files (and an unpaced demo) are lossless: every decoded frame goes through the network once, in
        # order, the decoder waiting for the worker. Cameras and paced files stay newest-wins. Recordings wait for
        # the network to be warm (gated).
        lossless = kind in ("file", "demo", "bag") and not conf["source"].pace
        self.source = create_source(conf["source"], self.slot, lossless=lossless, gated=kind in ("file", "bag"))
        self.renderer = FrameRenderer(conf["color"], overlay_alpha=daemon.overlay_alpha)
        http = conf["http"]
        self.still = PhotoRunner(model, threads=http.upload_threads) if http.max_uploads else None
        adopt = keep_http if keep_http is not None and keep_http.running and keep_http.options == http else None
        stride = conf["zmq"].points_stride  # one decimation for every point cloud output
        self.publishers = Publishers(
            zmq=ZmqPublisher(conf["zmq"], renderer=self.renderer),
            http=adopt if adopt is not None else HttpPublisher(http, renderer=self.renderer, still=self.still),
            imagezmq=ImageZmqPublisher(conf["imagezmq"], renderer=self.renderer) if daemon.imagezmq else None,
            foxglove=FoxglovePublisher(conf["foxglove"], conf["ros"], renderer=self.renderer, points_stride=stride)
            if conf["foxglove"].enabled else None,
            recorder=Recorder(conf["record"], conf["ros"], renderer=self.renderer, points_stride=stride)
            if conf["record"].enabled else None)
        self.zmq, self.http, self.foxglove = self.publishers.zmq, self.publishers.http, self.publishers.foxglove
        # A new stage takes the model's precision switch and puts fp32 back: a reload decides again (or from the
        # cache) on the new source's frames.
        self.precision = PrecisionStage(model, conf["model"], source=conf["source"].url,
                                        streams=frames_in_flight(conf["model"].frames_in_flight, lossless))
        metric = conf["metric"]
        self.anchors = AnchorReceiver(metric.anchors_endpoint, metric.max_anchors) if metric.mode == "points" else None
        self.metric = MetricStage(metric, conf["camera"], source_camera=self.source.camera,
                                  source_mount=self.source.mount, anchors=self.anchors,
                                  network=(model.weights_sha256, model.preprocess.net_size))
        stats = PipelineStats()  # the worker writes it, the board reads it: the board exists before the worker
        self.status = StatusBoard(source=self.source, slot=self.slot, stats=stats, model=model,
                                  publishers=self.publishers, metric=self.metric, source_url=conf["source"].url,
                                  pause_when_idle=daemon.pause_when_idle, stall_s=daemon.stall_s,
                                  exposition=self.metrics.exposition)
        # Running already (a previous pipeline's): it serves this pipeline from now on; not started, not stopped here.
        self.adopted: tuple[Publisher, ...] = ()
        if adopt is not None:
            adopt.adopt(renderer=self.renderer, status=self.status, still=self.still)
            self.adopted = (adopt,)
        self.worker = InferenceWorker(model, Steadier(conf["steady"]), self.slot, self.publishers.all, stats=stats,
                                      status=self.status, metrics=self.metrics.frames(camera), tap=self.precision,
                                      metric=self.metric)
        self.metrics.attach(self.status, camera)  # from now on /metrics reads this pipeline's counters

    def start(self, warmup_timeout_s: float) -> None:
        started: list[Publisher] = []
        try:
            for publisher in self.publishers.all:
                if publisher in self.adopted:
                    continue
                publisher.start(self.status)  # binds now (ListenError names the port): before any camera is opened
                started.append(publisher)
            if self.anchors is not None:
                self.anchors.start()
            self.source.start(self.status)  # asks the board which network-input size its decoder should make
            self._warm_up(warmup_timeout_s)  # a cold export cache meets bad weights here: WeightsError
        except BaseException:
            self.source.stop(0.5)
            for running in started:  # close the listeners we opened before the error goes up with its exit code
                running.stop(0.5)
            if self.anchors is not None:
                self.anchors.stop(0.5)
            raise
        self.worker.start()
        self.precision.start()
        self.source.gate.set()  # a file waiting at its first frame plays on now

    def _warm_up(self, timeout_s: float) -> None:
        # The first inference at a size builds the ONNX session (and may export); do it before anything is
        # reported ready, on a real frame when one comes in time so its size is the one that matters.
        first = None
        deadline = time.monotonic() + timeout_s
        while first is None and time.monotonic() < deadline:
            first = self.slot.peek(min(0.1, max(0.0, deadline - time.monotonic())))  # left for the worker
            failed = self.status.source_failed()
            if failed is not None:
                raise SourceError(f"cannot read the source: {failed}")
        if first is not None:
            width, height = first.shape[1], first.shape[0]
        else:
            width, height = self.conf["source"].width or 640, self.conf["source"].height or 480
        t0 = time.monotonic()
        if self.still is not None:
            self.still.prepare()  # the uploads' graph is exported now if missing; its session at the first photo
        ms = self.model.warm_up(width, height)
        log.info("network warm at %dx%d in %.1f s (last run %.0f ms)", width, height, time.monotonic() - t0, ms)

    def drain(self, timeout_s: float) -> None:
        """Wait until the worker has taken and processed the last captured frame, and publishers had a moment."""
        deadline = time.monotonic() + timeout_s
        while (self.slot.pending or self.worker.busy) and self.worker.running and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(min(0.3, max(0.0, deadline - time.monotonic())))  # publisher threads poll every 0.1 s

    def stop(self, timeout: float = 1.0, keep: Publisher | None = None) -> None:
        """Stop every stage; `keep` (the HTTP server a reload adopts) stays running."""
        # Upstream first, so nothing new flows into a stage that is shutting down.
        self.source.stop(timeout)
        self.worker.stop(timeout)
        self.precision.stop(timeout)
        for publisher in self.publishers.all:
            if publisher is not keep:
                publisher.stop(timeout)
        if self.anchors is not None:
            self.anchors.stop(timeout)
