"""`depth-streamer run`: builds the pipeline from a validated config and supervises it until told to stop.

It works like this: the main thread only supervises. It turns signals into events, pings the systemd watchdog while
frames advance (or while the source is honestly offline and retrying), reports status, exits when a file ends,
and on SIGHUP swaps in a new pipeline if the new config validates. Everything it knows comes from the pipeline's
StatusBoard.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path

from streamer.config.schema import Override
from streamer.core.memory import trim
from streamer.core.threads import name_os_threads
from streamer.errors import EXIT_CONFIG, EXIT_RUNTIME, StreamerError
from streamer.model import load_depth_model
from streamer.pipeline.metrics import Metrics
from streamer.pipeline.options import load_config
from streamer.pipeline.pipeline import Pipeline
from streamer.service.preflight import preflight
from streamer.service.sdnotify import Notifier

log = logging.getLogger(__name__)
TRIM_EVERY_S = 30.0  # malloc_trim takes milliseconds; the pages it gives back are faulted in again at most this often


class Interrupted(BaseException):
    """SIGTERM/SIGINT during start-up: raised in the main thread, out of whatever it waits on (the export child, the
    warm-up, the first frame), so the daemon stops at once; on the way out the export child is killed."""


class Daemon:
    def __init__(self, config_path: str | Path | None, overrides: list[Override], weights: str | None = None) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.weights = weights
        self.conf = load_config(config_path, overrides)
        self.notifier = Notifier()
        # A person at a terminal gets a status line every 10 s; under systemd STATUS= (systemctl status) has it.
        self.terminal = sys.stderr.isatty() and not self.notifier.enabled
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._pipeline: Pipeline | None = None
        self._interruptible = False  # while True, a stop signal raises Interrupted in the main thread
        self.metrics = Metrics()  # one registry for the process: counters carry over SIGHUP's new pipelines

    def request_stop(self, signum: int = signal.SIGTERM, *_: object) -> None:
        self._stop.set()
        if self._interruptible:  # once: a second signal during the clean-up must not interrupt the clean-up
            self._interruptible = False
            raise Interrupted(signal.Signals(signum).name)

    def request_reload(self, *_: object) -> None:
        self._reload.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        preflight(self.conf, self.weights)  # cheap checks first: a bad start fails in a second, before any export
        pipeline: Pipeline | None = None
        try:
            self._interruptible = not self._stop.is_set()
            if self._stop.is_set():
                raise Interrupted("a stop signal")
            model = load_depth_model(self.conf["model"], self.weights)
            pipeline = Pipeline(self.conf, model, self.metrics)
            pipeline.start(self.conf["daemon"].warmup_timeout_s)  # stops what it started when interrupted
            self._interruptible = False
        except Interrupted as exc:
            log.info("%s during start-up: stopped before serving", exc)
            if pipeline is not None:
                pipeline.stop(0.5)  # a no-op for what never started
            self.notifier.close()
            return 0
        finally:
            self._interruptible = False
            self._ignore_stop_signals_if_stopping()
        self._announce(pipeline)
        try:
            return self._supervise()
        finally:
            self.notifier.stopping()
            t0 = time.monotonic()
            if self._pipeline is not None:
                self._pipeline.stop(0.8)
            self.notifier.close()
            log.info("stopped in %.2f s", time.monotonic() - t0)
            self._ignore_stop_signals_if_stopping()

    def _ignore_stop_signals_if_stopping(self) -> None:
        """On the way out, a further SIGINT/SIGTERM has nothing left to stop: ignored, rather than (while the
        interpreter finalises, which restores default handlers) killing the process with a signal exit status."""
        if self._stop.is_set():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _announce(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        host, port = pipeline.http.address
        if pipeline.http.feeds:
            ids = ", ".join(pipeline.http.feeds)
            log.info("preview: http://%s:%d/  (every stream; stream ID: /s/ID/, stats: /stats); streams %s",
                     host, port, ids)
            log.info("zeromq: %s (topics depth/ID, color/ID, status/ID for streams %s)", pipeline.zmq.endpoint, ids)
        else:
            log.info("preview: http://%s:%d/  (stream: /stream.mjpg, stats: /stats)", host, port)
            log.info("zeromq: %s (topics depth, color, status)", pipeline.zmq.endpoint)
        if pipeline.foxglove is not None:
            log.info("foxglove: %s  (open in Foxglove: %s)", pipeline.foxglove.url, pipeline.foxglove.app_url)
        if not pipeline.model.official_weights:
            log.warning("running on UNOFFICIAL weights (sha256 %s); every header carries weights_official=false",
                        pipeline.model.weights_sha256[:16])

    def _supervise(self) -> int:
        ready = False
        watchdog_every = self.notifier.watchdog_interval()
        next_ping = next_status = 0.0
        next_terminal = next_trim = time.monotonic() + 10.0
        while not self._stop.wait(0.2):
            pipeline = self._pipeline
            assert pipeline is not None
            status = pipeline.status
            now = time.monotonic()
            if self._reload.is_set():
                self._reload.clear()
                self._reload_config()
                continue
            if not status.worker_alive():
                log.error("the inference worker stopped unexpectedly; exiting so the service manager restarts us")
                return EXIT_RUNTIME
            failed = status.source_failed()
            if failed is not None:  # a file that can never be decoded: say so once, exit
                log.error("cannot read the source: %s", failed)
                return EXIT_CONFIG
            ended = status.ended()
            if ended is not None:
                pipeline.drain(timeout_s=5.0)  # the file's last frame still deserves its depth
                log.info("source ended (%s) after %d depth frames; exiting", ended, status.frames_out())
                return 0
            if not ready and status.serving():
                ready = True
                self.notifier.ready(status.line())
                log.info("ready: %s", status.ready_reason())
            progress = status.progressing()
            if watchdog_every and now >= next_ping:
                if progress.ok:
                    self.notifier.watchdog()
                    next_ping = now + watchdog_every
                else:
                    log.warning("not pinging the watchdog: %s", progress.reason)
                    next_ping = now + 1.0
            if now >= next_status:
                name_os_threads()  # top -H and bench pipeline see "inference", "steady", ... (new threads too)
                line = status.line()
                self.notifier.status(line)
                if self.terminal and now >= next_terminal:
                    log.info("status: %s", line)
                    next_terminal = now + 10.0
                next_status = now + 2.0
            if now >= next_trim:  # frames' freed buffers stay with malloc otherwise (~50 MB, README "Memory")
                log.debug("heap trimmed: %s", trim())
                next_trim = now + TRIM_EVERY_S
        log.info("stopping")
        return 0

    def _reload_config(self) -> None:
        """SIGHUP, interruptible like the start: a stop signal during its model load, export or warm-up ends it at
        once (the supervisor then stops whatever pipeline is current)."""
        self._interruptible = not self._stop.is_set()
        try:
            self._reload_pipeline()
        except Interrupted as exc:
            log.info("%s during a reload: stopping", exc)
        finally:
            self._interruptible = False

    def _reload_pipeline(self) -> None:
        """Swap in a pipeline built from the re-read config; on any error keep the running one."""
        self.notifier.reloading()
        old = self._pipeline
        assert old is not None
        try:
            new_conf = load_config(self.config_path, self.overrides)
            model = old.model
            if new_conf["model"] != self.conf["model"]:
                model = load_depth_model(new_conf["model"], self.weights)
        except StreamerError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self.notifier.notify("READY=1")
            return
        # The same listener: keep the server, its MJPEG viewers and the uploads it is computing (no cut, no rebind).
        keep = old.http if new_conf["http"] == self.conf["http"] else None
        # Only streams changed: unchanged streams, the network and the socket carry on without a gap.
        previous = old if old.continues_into(new_conf, model, keep) else None
        if previous is None:
            old.stop(0.8, keep=keep)
        fresh = Pipeline(new_conf, model, self.metrics, keep_http=keep, previous=previous)
        if previous is not None:
            old.retire(fresh, 0.8)
            log.info("streams kept running: %s", ", ".join(s.id for s in fresh.kept) or "none")
        try:
            fresh.start(new_conf["daemon"].warmup_timeout_s)
        except StreamerError as exc:
            log.error("reload failed (%s); restarting with the previous configuration", exc)
            fresh = Pipeline(self.conf, old.model, self.metrics, keep_http=keep,
                             previous=fresh if previous is not None else None)
            fresh.start(self.conf["daemon"].warmup_timeout_s)
        else:
            self.conf = new_conf
            log.info("configuration reloaded from %s", self.config_path)
        self._announce(fresh)
        self.notifier.notify("READY=1")
