"""`depth-streamer run`: builds the pipeline from a validated config and supervises it until told to stop.

It works like this: capture thread -> LatestSlot -> inference worker (network + steady depth) -> each publisher's
own LatestSlot and thread (ZeroMQ, imagezmq, MJPEG). The main thread only supervises: it turns signals into
events, pings the systemd watchdog while frames advance (or while the source is honestly offline and retrying),
reports status, and on SIGHUP swaps in a new pipeline if the new config validates.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from . import config as cfg
from .errors import EXIT_RUNTIME, ConfigError, StreamerError
from .frame import CapturedFrame
from .handoff import LatestSlot
from .model import DepthModel, ModelOptions, load_depth_model
from .options import opt
from .publish import (ImageZmqPublisher, ImageZmqPublisherOptions, MjpegOptions, MjpegPublisher, ZmqPublisher,
                      ZmqPublisherOptions)
from .render import FrameRenderer
from .sdnotify import Notifier
from .sources import SourceOptions, create_source
from .stats import PipelineStats
from .steady import ColorOptions, Steadier, SteadyOptions
from .worker import InferenceWorker

log = logging.getLogger(__name__)
RATE_WINDOW_S = 5.0  # fps_in is measured over this window, like fps_out (a lifetime average hides outages)


@dataclass(frozen=True)
class DaemonOptions:
    pause_when_idle: bool = opt(False, "skip inference while nobody subscribes to ZeroMQ or watches the MJPEG "
                                       "stream; the next frame after someone arrives is processed")
    imagezmq: bool = opt(False, "also publish imagezmq-compatible frames (see [imagezmq])")
    overlay_alpha: float = opt(0.5, "weight of the depth colors in the overlay view", min=0.0, max=1.0)
    stall_s: float = opt(10.0, "no output for this long while the source delivers frames means the pipeline is "
                               "wedged: the systemd watchdog is no longer pinged (and restarts the service)",
                         unit="s", min=1.0, max=3600.0)
    warmup_timeout_s: float = opt(10.0, "wait this long for a first frame to warm the network at its size; "
                                        "after it, warm up at [source] width x height", unit="s", min=0.0, max=600.0)


SCHEMA: dict[str, type] = {"daemon": DaemonOptions, "source": SourceOptions, "model": ModelOptions,
                           "steady": SteadyOptions, "color": ColorOptions, "zmq": ZmqPublisherOptions,
                           "imagezmq": ImageZmqPublisherOptions, "http": MjpegOptions}


def load_config(path: str | Path | None, overrides: list[str]) -> dict[str, Any]:
    """Validate the file plus CLI overrides against SCHEMA; raises ConfigError naming the key."""
    data = cfg.read_toml(path) if path else {}
    data = cfg.apply_overrides(data, overrides)
    return cfg.build_sections(data, SCHEMA, origin=str(path) if path else "config")


class Pipeline:
    """One source, one inference worker and the publishers, built from one config, started and stopped together."""

    def __init__(self, conf: dict[str, Any], model: DepthModel) -> None:
        self.conf = conf
        self.model = model
        self.stats = PipelineStats()
        self.slot: LatestSlot[CapturedFrame] = LatestSlot()
        self.source = create_source(conf["source"], self.slot)
        self.renderer = FrameRenderer(conf["color"], overlay_alpha=conf["daemon"].overlay_alpha)
        render = self.renderer.image
        self.zmq = ZmqPublisher(conf["zmq"], render=render, health=self.health, no_signal=self.no_signal,
                                stats=self.snapshot)
        self.mjpeg = MjpegPublisher(conf["http"], render=render, stats=self.snapshot, health=self.health,
                                    no_signal=self.no_signal)
        self.publishers: list[Any] = [self.zmq, self.mjpeg]
        if conf["daemon"].imagezmq:
            self.publishers.append(ImageZmqPublisher(conf["imagezmq"], render=render))
        audience = self.has_audience if conf["daemon"].pause_when_idle else None
        self.worker = InferenceWorker(model, Steadier(conf["steady"]), self.slot, self.publishers, self.stats,
                                      audience=audience)
        self.started_mono = time.monotonic()
        self._input_window: deque[tuple[float, int]] = deque()  # (monotonic, frames captured) for fps_in
        self._input_lock = threading.Lock()

    def start(self, warmup_timeout_s: float) -> None:
        started = []
        for publisher in self.publishers:
            try:
                publisher.start()  # binds now: a taken port fails here, before any camera is opened
            except (OSError, zmq.ZMQError) as exc:
                for running in started:
                    running.stop(1.0)
                # Name the listener: "[Errno 98] Address already in use" alone does not say which of the ports.
                section = "zmq" if publisher is self.zmq else "http" if publisher is self.mjpeg else "imagezmq"
                where = f"{publisher.options.host}:{publisher.options.port}"
                raise ConfigError(f"cannot listen on {where} ([{section}] port): {exc}. Another depth-streamer (or "
                                  f"another program) holds the port; choose another [{section}] port or stop the "
                                  f"other process") from None
            started.append(publisher)
        try:
            self.source.start()
            self._warm_up(warmup_timeout_s)  # a cold export cache meets bad weights here: WeightsError
        except BaseException:
            self.stop(0.5)  # close the listeners we opened before the error goes up (and out, with its exit code)
            raise
        self.worker.start()

    def _warm_up(self, timeout_s: float) -> None:
        # The first inference at a size builds the ONNX session (and may export); do it before anything is
        # reported ready, on a real frame when one comes in time so its size is the one that matters.
        first = self.slot.get(timeout_s) if timeout_s > 0 else None
        if first is not None:
            width, height = first.shape[1], first.shape[0]
        else:
            width, height = self.conf["source"].width or 640, self.conf["source"].height or 480
        t0 = time.monotonic()
        ms = self.model.warm_up(width, height)
        log.info("network warm at %dx%d in %.1f s (last run %.0f ms)", width, height, time.monotonic() - t0, ms)

    def drain(self, timeout_s: float) -> None:
        """Wait until the worker has taken and processed the last captured frame, and publishers had a moment."""
        deadline = time.monotonic() + timeout_s
        while (self.slot.pending or self.worker.busy) and self.worker.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(min(0.3, max(0.0, deadline - time.monotonic())))  # publisher threads poll every 0.1 s

    def stop(self, timeout: float = 1.0) -> None:
        # Upstream first, so nothing new flows into a stage that is shutting down.
        self.source.stop(timeout)
        self.worker.stop(timeout)
        for publisher in self.publishers:
            publisher.stop(timeout)

    # -- what publishers and the supervisor read -----------------------------------------------------------
    def has_audience(self) -> bool:
        return self.zmq.subscribers() > 0 or self.mjpeg.viewers() > 0

    def idle(self) -> bool:
        """Inference paused on purpose: pause_when_idle and nobody subscribed or watching."""
        return self.conf["daemon"].pause_when_idle and not self.has_audience()

    def serving(self) -> bool:
        """Up end to end (the network is warm by now): a depth frame was published; or frames reach the network and
        are skipped only because nobody watches; or the camera is down and we say so on every channel while the
        source retries. Without the last two, systemd would never see READY=1 and would kill and restart a daemon
        that is doing exactly its job (TimeoutStartSec), fighting the source's own reconnect backoff."""
        return (self.stats.last_output_mono is not None or (self.idle() and self.stats.skipped_idle > 0)
                or self.source.stats.state == "offline")

    def no_signal(self) -> str | None:
        s = self.source.stats
        if s.state == "live":
            return None
        return f"source {s.state}: {s.reason}" if s.reason else f"source {s.state}"

    def health(self) -> tuple[bool, str]:
        reason = self.no_signal()
        if reason:
            return False, reason
        if self.idle():  # no depth frames on purpose: neither "starting" nor "stalled"
            return True, "idle: inference paused until someone subscribes or watches"
        age = self.stats.snapshot()["last_output_age_s"]
        if age is None:
            return False, "starting: no depth frame published yet"
        if age > self.conf["daemon"].stall_s:
            return False, f"stalled: no depth frame for {age:.0f} s"
        return True, "ok"

    def snapshot(self) -> dict:
        src = self.source.stats.snapshot()
        return {
            **self.stats.snapshot(),
            "source": {"url": self.conf["source"].url, "state": src.state, "reason": src.reason,
                       "frames": src.frames, "decode_errors": src.decode_errors, "reconnects": src.reconnects,
                       "resolution_changes": src.resolution_changes, "width": src.width, "height": src.height,
                       "pix_fmt": src.pix_fmt},
            "fps_in": round(self.source_rate(), 2),
            "dropped": self.slot.dropped,  # captured frames the network never saw (newest-wins)
            "model": self.model.meta,
            "publishers": {p.name: p.counters() for p in self.publishers},
        }

    def source_rate(self) -> float:
        """Captured frames per second over the last few seconds (the source counts frames; the rate is ours)."""
        with self._input_lock:  # /stats handlers, the ZeroMQ heartbeat and the supervisor all ask
            now, frames = time.monotonic(), self.source.stats.frames
            window = self._input_window
            window.append((now, frames))
            while len(window) > 2 and now - window[0][0] > RATE_WINDOW_S:
                window.popleft()
            t0, f0 = window[0]
        return (frames - f0) / (now - t0) if now - t0 > 0.5 else 0.0

    def progressing(self) -> tuple[bool, str]:
        """Whether the watchdog should be pinged: frames advance, or the source is offline and retrying."""
        if not self.worker.alive:
            return False, "inference worker died"
        state = self.source.stats.state
        if state != "live":
            return (self.source.running or state == "ended"), f"source {state}"
        last_out = self.stats.last_output_mono
        last_in = self.source.stats.last_frame_mono
        now = time.monotonic()
        if self.idle():
            return (last_in is not None and now - last_in < self.conf["daemon"].stall_s), "idle"
        reference = last_out if last_out is not None else self.started_mono
        return now - reference < self.conf["daemon"].stall_s, "live"


class Daemon:
    def __init__(self, config_path: str | Path | None, overrides: list[str], weights: str | None = None) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.weights = weights
        self.conf = load_config(config_path, overrides)
        self.notifier = Notifier()
        # A person at a terminal gets a status line every 10 s; under systemd STATUS= (systemctl status) has it.
        self.terminal = sys.stderr.isatty() and not self.notifier.enabled
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.exit_code = 0

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def request_reload(self, *_: object) -> None:
        self._reload.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        model = load_depth_model(self.conf["model"], self.weights)
        pipeline = Pipeline(self.conf, model)
        pipeline.start(self.conf["daemon"].warmup_timeout_s)
        self._announce(pipeline)
        try:
            return self._supervise(pipeline)
        finally:
            self.notifier.stopping()
            t0 = time.monotonic()
            self._pipeline.stop(0.8)
            self.notifier.close()
            log.info("stopped in %.2f s", time.monotonic() - t0)

    def _announce(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        host, port = pipeline.mjpeg.address
        log.info("preview: http://%s:%d/  (stream: /stream.mjpg, stats: /stats)", host, port)
        log.info("zeromq: %s (topics depth, color, status)", pipeline.zmq.endpoint)
        if not pipeline.model.official_weights:
            log.warning("running on UNOFFICIAL weights (sha256 %s); every header carries weights_official=false",
                        pipeline.model.weights_sha256[:16])

    def _supervise(self, pipeline: Pipeline) -> int:
        ready = False
        watchdog_every = self.notifier.watchdog_interval()
        next_ping = next_status = 0.0
        next_terminal = time.monotonic() + 10.0
        while not self._stop.wait(0.2):
            pipeline = self._pipeline
            now = time.monotonic()
            pipeline.source_rate()  # keeps the fps_in window fresh between /stats requests
            if self._reload.is_set():
                self._reload.clear()
                self._reload_config()
                continue
            if not pipeline.worker.alive:
                log.error("the inference worker stopped unexpectedly; exiting so the service manager restarts us")
                return EXIT_RUNTIME
            if pipeline.source.stats.state == "ended" and not pipeline.source.running:
                pipeline.drain(timeout_s=5.0)  # the file's last frame still deserves its depth
                log.info("source ended (%s) after %d depth frames; exiting",
                         pipeline.source.stats.reason or "end of file", pipeline.stats.inferred.total)
                return 0
            if not ready and pipeline.serving():
                ready = True
                self.notifier.ready(self._status_line(pipeline))
                log.info("ready: %s", "first depth frame published" if pipeline.stats.last_output_mono is not None
                         else "idle, inference paused until someone subscribes or watches" if pipeline.idle()
                         else f"serving, camera offline: {pipeline.source.stats.reason}")
            ok, why = pipeline.progressing()
            if watchdog_every and now >= next_ping:
                if ok:
                    self.notifier.watchdog()
                    next_ping = now + watchdog_every
                else:
                    log.warning("not pinging the watchdog: %s", why)
                    next_ping = now + 1.0
            if now >= next_status:
                line = self._status_line(pipeline)
                self.notifier.status(line)
                if self.terminal and now >= next_terminal:
                    log.info("status: %s", line)
                    next_terminal = now + 10.0
                next_status = now + 2.0
        log.info("stopping")
        return 0

    @staticmethod
    def _status_line(pipeline: Pipeline) -> str:
        snap = pipeline.stats.snapshot()
        src = pipeline.source.stats
        lat = snap["latency_ms"]["p50"]
        state = "live" if src.state == "live" else f"{src.state}: {src.reason}"
        return f"{state}; {snap['fps_out']:.1f} fps; latency p50 {lat if lat is not None else '-'} ms; " \
               f"dropped {pipeline.slot.dropped}"

    def _reload_config(self) -> None:
        """SIGHUP: swap in a pipeline built from the re-read config; on any error keep the running one."""
        self.notifier.reloading()
        try:
            new_conf = load_config(self.config_path, self.overrides)
        except StreamerError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self.notifier.notify("READY=1")
            return
        old = self._pipeline
        model = old.model
        try:
            if new_conf["model"] != self.conf["model"]:
                model = load_depth_model(new_conf["model"], self.weights)
        except StreamerError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self.notifier.notify("READY=1")
            return
        old.stop(0.8)
        try:
            fresh = Pipeline(new_conf, model)
            fresh.start(new_conf["daemon"].warmup_timeout_s)
        except StreamerError as exc:
            log.error("reload failed (%s); restarting with the previous configuration", exc)
            fresh = Pipeline(self.conf, old.model)
            fresh.start(self.conf["daemon"].warmup_timeout_s)
        else:
            self.conf = new_conf
            log.info("configuration reloaded from %s", self.config_path)
        self._announce(fresh)
        self.notifier.notify("READY=1")


def run_daemon(config_path: str | None, overrides: list[str], weights: str | None) -> int:
    return Daemon(config_path, overrides, weights).run()


def with_cli_overrides(args: Any) -> list[str]:
    """Translate the dedicated `run` flags into `section.key=value` overrides (after the generic --set ones)."""
    pairs = list(args.set or [])
    for flag, key in (("source", "source.url"), ("backend", "model.backend"), ("device", "model.device"),
                      ("camera_id", "zmq.camera_id"), ("http_port", "http.port"), ("zmq_port", "zmq.port"),
                      ("threads", "model.threads")):
        value = getattr(args, flag, None)
        if value is not None:
            pairs.append(f"{key}={_quote(value)}")
    return pairs


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


