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
from streamer.model import DepthModel
from streamer.pipeline.metrics import Metrics
from streamer.model.still import StillDepthModel
from streamer.pipeline.precision import PrecisionStage
from streamer.pipeline.status import StatusBoard
from streamer.pipeline.worker import InferenceWorker
from streamer.publish.base import Publisher
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.imagezmq_publisher import ImageZmqPublisher
from streamer.publish.zmq_publisher import ZmqPublisher
from streamer.render.renderer import FrameRenderer
from streamer.errors import SourceError
from streamer.sources import create_source, source_kind
from streamer.core.redact import redact
from streamer.steady import Steadier

log = logging.getLogger(__name__)


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
        self.status = StatusBoard(source_url=redact(conf["source"].url), pause_when_idle=daemon.pause_when_idle,
                                  stall_s=daemon.stall_s, exposition=self.metrics.exposition)
        self.slot: LatestSlot[CapturedFrame] = LatestSlot()
        self.source = create_source(conf["source"], self.slot)
        replay = source_kind(conf["source"].url) in ("file", "demo")
        # Unpaced files (and an unpaced demo) are lossless: every decoded frame goes through the network once, in
        # order, the decoder waiting for the worker. Cameras and paced files stay newest-wins.
        self.source.lossless = replay and not conf["source"].pace
        self.source.gated = source_kind(conf["source"].url) == "file"  # a file waits for the warm network
        self.renderer = FrameRenderer(conf["color"], overlay_alpha=daemon.overlay_alpha)
        self.zmq = ZmqPublisher(conf["zmq"], renderer=self.renderer, status=self.status)
        http = conf["http"]
        self.still = StillDepthModel(model, threads=http.upload_threads) if http.max_uploads else None
        self.adopted: list[Publisher] = []  # running already (a previous pipeline's): not started, not stopped here
        if keep_http is not None and keep_http.running and keep_http.options == http:
            keep_http.adopt(renderer=self.renderer, status=self.status, still=self.still)
            self.http = keep_http
            self.adopted.append(keep_http)
        else:
            self.http = HttpPublisher(http, renderer=self.renderer, status=self.status, still=self.still)
        self.publishers: list[Publisher] = [self.zmq, self.http]
        if daemon.imagezmq:
            self.publishers.append(ImageZmqPublisher(conf["imagezmq"], renderer=self.renderer))
        model.use_backend(model.fp32_backend, "fp32")  # a reload decides again, on the new source's frames
        self.precision = PrecisionStage(model, conf["model"])
        self.worker = InferenceWorker(model, Steadier(conf["steady"]), self.slot, self.publishers,
                                      status=self.status, metrics=self.metrics.frames(camera), tap=self.precision)
        self.status.attach(source=self.source, slot=self.slot, worker=self.worker, model=model,
                           publishers=self.publishers)
        self.metrics.attach(self.status, camera)  # from now on /metrics reads this pipeline's counters

    def start(self, warmup_timeout_s: float) -> None:
        started: list[Publisher] = []
        try:
            for publisher in self.publishers:
                if publisher in self.adopted:
                    continue
                publisher.start()  # binds now (ListenError names the port): before any camera is opened
                started.append(publisher)
            self.source.start()
            self._warm_up(warmup_timeout_s)  # a cold export cache meets bad weights here: WeightsError
        except BaseException:
            self.source.stop(0.5)
            for running in started:  # close the listeners we opened before the error goes up with its exit code
                running.stop(0.5)
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
            if self.source.status().state == "failed":
                raise SourceError(f"cannot read the source: {self.source.status().reason}")
        if first is not None:
            width, height = first.shape[1], first.shape[0]
        else:
            width, height = self.conf["source"].width or 640, self.conf["source"].height or 480
        t0 = time.monotonic()
        if self.still is not None:
            self.still.prepare()  # the uploads' graph and session too: paid now, not by the first visitor
        ms = self.model.warm_up(width, height)
        log.info("network warm at %dx%d in %.1f s (last run %.0f ms)", width, height, time.monotonic() - t0, ms)

    @property
    def ended(self) -> bool:
        """The source reached the end of a non-looping file and its capture thread is done."""
        return self.source.status().state == "ended" and not self.source.running

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
        for publisher in self.publishers:
            if publisher is not keep:
                publisher.stop(timeout)
