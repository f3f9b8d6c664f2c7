"""Pipeline: the daemon's streams and the one network they share, built from one config, started and stopped together.

It works like this: each stream (`stream.py`: a source, its steadier and metric stage, its outputs) puts its decoded
frames in its own LatestSlot; the one network scheduler (`scheduler.py`) takes the newest frame of each stream in
turn and runs the one network (one model, one precision decision from every stream's frames, one inference pool);
each stream's steady thread steadies its results and hands them to its own publishers, whose threads render through
the stream's FrameRenderer (a view is rendered and encoded once per frame, whoever asks first) and send. Stages learn
about each other only through the status boards (one per stream; `Overview` over several).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from streamer.core.redact import redact
from streamer.model import DepthModel
from streamer.model.backends import default_threads
from streamer.model.photo_runner import PhotoRunner
from streamer.pipeline.metrics import Metrics
from streamer.pipeline.overview import Overview
from streamer.pipeline.precision import PrecisionStage
from streamer.pipeline.scheduler import NetworkScheduler
from streamer.pipeline.status import StatusBoard
from streamer.pipeline.stream import Shared, Stream
from streamer.pipeline.streams_config import PER_STREAM, StreamOptions, Streams
from streamer.publish.base import Publisher
from streamer.publish.foxglove_hub import FoxgloveHub
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.imagezmq_publisher import imagezmq_hub
from streamer.publish.zmq_hub import ZmqHub
from streamer.publish.zmq_publisher import hub_hwm
from streamer.record.feed import RecordFeed
from streamer.render.renderer import FrameRenderer

log = logging.getLogger(__name__)


def frames_in_flight(requested: int, lossless: bool, cores: int | None = None) -> int:
    """model.frames_in_flight resolved: `requested` when set; auto = 2 for a lossless source (throughput is what it
    is for) on 2+ cores, 1 for a camera (a frame's latency is)."""
    if requested:
        return requested
    return 2 if lossless and (cores if cores is not None else default_threads()) >= 2 else 1


class Pipeline:
    streams: list[Stream]
    still: PhotoRunner | None
    network: NetworkScheduler
    precision: PrecisionStage

    def __init__(self, conf: dict[str, Any], model: DepthModel, metrics: Metrics | None = None,
                 keep_http: HttpPublisher | None = None, previous: Pipeline | None = None) -> None:
        """`metrics`: the process's registry (the Daemon's, so counters survive SIGHUP); a private one if None.
        `keep_http`: the previous pipeline's running HTTP server, adopted when its options are unchanged (SIGHUP):
        its listener, MJPEG viewers and uploads in flight carry on. `previous`: the running pipeline a SIGHUP
        replaces: when only streams changed (same model and shared sections), its network, socket and every stream
        whose config is unchanged carry on without a gap (`retire` then stops the rest of it)."""
        self.conf = conf
        self.model = model
        self.metrics = metrics if metrics is not None else Metrics()
        streams: Streams = conf.get("streams") or Streams(False, ({**conf, "stream": StreamOptions(
            id=conf["zmq"].camera_id)},))
        http = conf["http"]
        adopt = keep_http if keep_http is not None and keep_http.running and keep_http.options == http else None
        prev = previous if previous is not None and previous.continues_into(conf, model, adopt) else None
        kept = {s.id: s for s in prev.streams if s.conf in streams.items} if prev is not None else {}
        self.kept: tuple[Stream, ...] = tuple(kept.values())
        self.continued = prev is not None  # the network, its precision stage and the uploads' runner run already
        self.named = streams.named  # [[streams]]: several streams, each named
        self.still = prev.still if prev is not None else (
            PhotoRunner(model, threads=http.upload_threads, keep_s=http.upload_keep_s) if http.max_uploads else None)
        self.network = prev.network if prev is not None else NetworkScheduler(model)
        zmq, fox, first_conf = conf["zmq"], conf["foxglove"], streams.items[0]
        self.hub, self.fox_hub, self.imagezmq_hub, root = None, None, None, None
        if streams.named:  # one HTTP server: an unnamed stream's own publisher, or a root that routes /s/ID/
            self.hub = prev.hub if prev is not None else ZmqHub(zmq.host, zmq.port, hub_hwm(zmq, len(streams.items)))
            self.fox_hub = prev.fox_hub if prev is not None else FoxgloveHub(fox.host, fox.port, fox.client_backlog)
            self.imagezmq_hub = prev.imagezmq_hub if prev is not None else imagezmq_hub(conf["imagezmq"],
                                                                                       len(streams.items))
            root = adopt or HttpPublisher(http, renderer=FrameRenderer(first_conf["color"], overlay_alpha=conf[
                "daemon"].overlay_alpha), still=self.still)
        recorder = next((r.share for s in kept.values() if isinstance(r := s.publishers.recorder, RecordFeed)), None)
        self.streams = []
        for item in streams.items:
            stream = kept.get(item["stream"].id) or Stream(
                item, model, self.network, self.metrics, named=streams.named, still=self.still,
                shared=Shared(zmq=self.hub, http=root, foxglove=self.fox_hub, recorder=recorder,
                              imagezmq=self.imagezmq_hub),
                http=None if streams.named else adopt)
            if recorder is None and isinstance(stream.publishers.recorder, RecordFeed):
                recorder = stream.publishers.recorder.share  # the first stream made it: one bag for every stream
            self.streams.append(stream)
        self.http: HttpPublisher = root if root is not None else self.streams[0].publishers.http
        # One precision decision for the one network: it sees every stream's frames (calibration, gate, race).
        lossless = any(s.lossless for s in self.streams)
        self.precision = prev.precision if prev is not None else PrecisionStage(
            model, conf["model"], source=" + ".join(s.conf["source"].url for s in self.streams),
            streams=frames_in_flight(conf["model"].frames_in_flight, lossless))
        self.network.tap = self.precision
        first = self.streams[0]
        # The first stream's stages by their old names (one stream: the pipeline as it always was).
        self.slot, self.source, self.worker, self.metric = first.slot, first.source, first.worker, first.metric
        self.zmq, self.foxglove, self.renderer = first.publishers.zmq, first.publishers.foxglove, first.renderer
        self.status: StatusBoard | Overview = first.status
        if streams.named:
            self.status = Overview({s.id: s.status for s in self.streams}, self.network, conf["daemon"].stall_s,
                                   exposition=self.metrics.exposition)
        self.http.feeds = {s.id: s.publishers.http for s in self.streams} if streams.named else {}
        # Running already (a previous pipeline's): it serves this pipeline from now on; not started, not stopped here.
        self.adopted: tuple[Publisher, ...] = ()
        if adopt is not None:
            adopt.adopt(renderer=first.renderer, status=self.status, still=self.still)
            self.adopted = (adopt,)
        self.metrics.attach_all({s.id: s.status for s in self.streams})  # /metrics reads these streams from now on

    def continues_into(self, conf: dict[str, Any], model: DepthModel, http: HttpPublisher | None) -> bool:
        """A reload to `conf` can keep this pipeline's network, sockets, recorder and unchanged streams running:
        both have named streams, the model is the same, every shared section is unchanged and the HTTP server is
        adopted."""
        mine: Streams = self.conf["streams"]
        theirs: Streams | None = conf.get("streams")
        shared = [k for k in conf if k not in PER_STREAM and k != "streams"]
        return (mine.named and theirs is not None and theirs.named and model is self.model
                and http is not None and http is self.http and all(conf[k] == self.conf[k] for k in shared))

    def start(self, warmup_timeout_s: float) -> None:
        fresh = [s for s in self.streams if s not in self.kept]
        opened: list[Stream] = []
        root = bool(self.http.feeds) and self.http not in self.adopted
        try:
            if root:
                self.http.start(self.status)  # several streams: the root server first, the streams are its feeds
            for stream in fresh:
                stream.open(self.adopted)  # binds now (ListenError names the port): before any camera is opened
                opened.append(stream)
            self._warm_up(warmup_timeout_s, fresh)  # a cold export cache meets bad weights here: WeightsError
        except BaseException:
            for stream in opened:
                stream.stop(0.5)
            if root:
                self.http.stop(0.5)
            raise
        if not self.continued:
            self.network.start()
        for stream in fresh:
            stream.run()
        if not self.continued:
            self.precision.start()

    def retire(self, successor: Pipeline, timeout: float = 1.0) -> None:
        """SIGHUP: stop what `successor` (built with previous=self) does not carry on; the rest keeps running."""
        if successor.network is not self.network:
            self.stop(timeout, keep=successor.http if successor.http is self.http else None)
            return
        for stream in self.streams:
            if stream not in successor.streams:
                log.info("stream %s removed", stream.id)
                stream.stop(timeout)

    def _warm_up(self, timeout_s: float, streams: list[Stream]) -> None:
        # The first inference at a size builds the ONNX session (and may export); do it before anything is
        # reported ready, on a real frame when one comes in time so its size is the one that matters.
        sizes = dict.fromkeys(self._first_sizes(streams, time.monotonic() + timeout_s))
        t0 = time.monotonic()
        if self.still is not None and not self.continued:
            self.still.prepare()  # the uploads' graph is exported now if missing; its session at the first photo
        for width, height in sizes:
            ms = self.model.warm_up(width, height)
            log.info("network warm at %dx%d in %.1f s (last run %.0f ms)", width, height, time.monotonic() - t0, ms)

    def _first_sizes(self, streams: list[Stream], deadline: float) -> list[tuple[int, int]]:
        """Each stream's first frame size, waiting until `deadline` (a stream without one: its configured size).
        Several streams: a camera that is down (its source retrying) does not hold the others once one stream has
        a frame, or once the network is warm already (SIGHUP added it): it joins when its camera answers."""
        sizes: dict[Stream, tuple[int, int]] = {}
        while True:
            for stream in streams:
                if stream not in sizes and (size := stream.first_size()) is not None:
                    sizes[stream] = size
            waiting = [s for s in streams if s not in sizes]
            if not waiting or time.monotonic() >= deadline:
                break
            if self.named and (sizes or self.continued) and all(s.down() for s in waiting):
                for stream in waiting:
                    log.warning("stream %s: camera down (%s); the other streams start without it, it joins when "
                                "its camera answers", stream.id, redact(stream.down() or ""))
                break
            time.sleep(0.02)
        return [sizes.get(s) or s.configured_size for s in streams]

    def drain(self, timeout_s: float) -> None:
        """Wait until the workers have taken and processed the last captured frames, and publishers had a moment."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(
                (s.slot.pending or s.worker.busy) and s.worker.running for s in self.streams):
            time.sleep(0.02)
        time.sleep(min(0.3, max(0.0, deadline - time.monotonic())))  # publisher threads poll every 0.1 s

    def stop(self, timeout: float = 1.0, keep: Publisher | None = None) -> None:
        """Stop every stage; `keep` (the HTTP server a reload adopts) stays running."""
        for stream in self.streams:
            stream.stop(timeout, keep=keep)
        self.network.stop(timeout)
        self.precision.stop(timeout)
        if self.http.feeds and self.http is not keep:
            self.http.stop(timeout)
