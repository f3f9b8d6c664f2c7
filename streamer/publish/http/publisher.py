"""HttpPublisher: the live preview over HTTP (MJPEG), with snapshot, health and stats; stdlib only.

It works like this: `publish(frame)` drops the frame in the slot; the worker moves it to `_latest` and wakes every
viewer through a Condition (always waited on with a timeout). Each viewer thread takes only the newest frame and
asks the shared FrameRenderer for its JPEG: the first consumer (viewer or other publisher) to ask renders and
encodes, the others reuse the bytes, so a frame is encoded once per watched view and never for unwatched views.
A slow viewer blocks only its own thread - it skips frames, never queues them - until `send_timeout_s` without
progress drops it. When frames stop or the pipeline status gives a no-signal reason, viewers get a "no signal"
frame about once a second, so they see why.

Endpoints (GET and HEAD, everything else 404): `/` page, `/stream.mjpg`, `/snapshot.jpg`, `/healthz`, `/stats`,
`/metrics` (Prometheus), and mjpg-streamer's `/?action=stream` and `/?action=snapshot`. Query:
`view=depth|side_by_side|overlay`, `fps=N`. POST `/depth` (and GET `/depth`, its limits): a photo's depth, computed
with the `still` model (see `upload`).

This module is the stage (frame slot, counters). The HTTP side: `server` accepts and caps connections, `request`
reads request heads within limits, `handler` routes and streams, `auth` checks credentials and CORS. Options are
in `options`; the "no signal" frame is drawn by `streamer.render.no_signal`.
"""
from __future__ import annotations

import logging
import threading
import time

from streamer.core.frame import DepthFrame
from streamer.core.redact import redact, redact_data
from streamer.core.status import Health, PipelineStatus
from streamer.photo.depth import PhotoDepth
from streamer.publish.base import Publisher
from streamer.publish.exposure import warn_if_exposed
from streamer.publish.http.gate import UploadGate
from streamer.publish.http.handler import HttpRequestHandler
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.server import HttpServer
from streamer.render.colorize import ColorOptions
from streamer.render.no_signal import render_no_signal
from streamer.render.renderer import FrameRenderer

log = logging.getLogger(__name__)


class HttpPublisher(Publisher):
    """HTTP server streaming the newest frame as MJPEG to any number of viewers (up to `max_clients`)."""

    section = "http"

    def __init__(self, options: HttpOptions = HttpOptions(),  # noqa: B008 - frozen, so one shared default is safe
                 *, renderer: FrameRenderer,
                 still: PhotoDepth | None = None, served_by: HttpPublisher | None = None,
                 stream: str | None = None) -> None:
        """`served_by`: the server this stream is a feed of (several streams: it binds nothing itself and serves
        under /s/ID/; uploads are the server's). `feeds`: on the server, every stream's feed by id."""
        super().__init__("http-publisher" if stream is None else f"http-{stream}")
        self.options = options
        self._renderer = renderer
        self.served_by = served_by
        self.still = still  # POST /depth computes photos with it (see `upload`); None: uploads off
        self.uploads: UploadGate = UploadGate(options.max_uploads) if served_by is None else served_by.uploads
        self.feeds: dict[str, HttpPublisher] = {}
        self._cond = threading.Condition()
        self._latest: DepthFrame | None = None
        self._latest_mono: float | None = None  # when the newest frame reached us
        self._counts_lock = threading.Lock()
        self._counts = {"clients": 0, "frames_served": 0, "no_signal_served": 0, "rejected_clients": 0,
                        "rejected_connections": 0, "bad_requests": 0, "unauthorized": 0}
        self._server: HttpServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.address: tuple[str, int] = ("", 0)  # (host, port) actually bound

    def adopt(self, *, renderer: FrameRenderer, status: PipelineStatus | None, still: PhotoDepth | None) -> None:
        """Serve a new pipeline (SIGHUP) from this running server: its listener, viewers and in-flight uploads stay.
        Three attribute stores; a request in progress finishes with what it already holds (an upload, its model)."""
        self._renderer, self.status, self.still = renderer, status, still

    # -- stage -------------------------------------------------------------------------------------------------
    def audience(self) -> int:
        return self.viewers()

    def viewers(self) -> int:
        """Clients currently streaming (snapshots and stats requests do not count)."""
        with self._counts_lock:
            return self._counts["clients"]

    def _open(self) -> None:
        if self.served_by is not None:
            self.address = self.served_by.address
            return  # a feed: the server's listener serves it
        o = self.options
        server = HttpServer((o.host, o.port), HttpRequestHandler, max_connections=o.max_connections)
        server.app = self
        self._server = server
        self.address = (server.server_name, server.server_port)  # server_bind() set them from the bound socket
        self._serve_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                              name="http-accept", daemon=True)
        self._serve_thread.start()
        log.info("http: serving on http://%s:%d/", *self.address)
        if not (o.auth_user or o.auth_token):
            warn_if_exposed(log, "http: http://%s:%d/" % self.address, o.host,
                            "the live camera picture and depth (/, /stream.mjpg, /snapshot.jpg), /stats (pipeline "
                            "and source details) and /metrics",
                            "Set [http] auth_token or auth_user + auth_password, or host = \"127.0.0.1\".")

    def _send(self, frame: DepthFrame) -> None:
        with self._cond:
            self._latest = frame
            self._latest_mono = time.monotonic()
            self._cond.notify_all()
        self.sent += 1

    def _close(self) -> None:
        with self._cond:
            self._cond.notify_all()  # viewers waiting for a frame see the stop at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()  # unblocks viewers stuck writing to a stalled socket
            self._server = None
        if self._serve_thread is not None:
            self._serve_thread.join(1.0)
            self._serve_thread = None

    # -- used by viewer threads --------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait_newer(self, than: DepthFrame | None, timeout: float) -> DepthFrame | None:
        """The newest frame if it is not `than`, waiting up to `timeout` s for one; None otherwise."""
        with self._cond:
            if self._latest is than and not self._stop.is_set():
                self._cond.wait(timeout)
            return self._latest if self._latest is not than else None

    def pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking at once on stop."""
        if seconds > 0:
            self._stop.wait(seconds)

    def no_signal_reason(self) -> str | None:
        if self.status is not None:
            try:
                reason = self.status.no_signal()
            except Exception as e:
                reason = f"source state unknown: {e!r}"
            if reason:
                return redact(reason)  # drawn on the no-signal frame and sent as X-No-Signal
        if self._latest_mono is None:
            return "waiting for the first frame"
        age = time.monotonic() - self._latest_mono
        if age > self.options.no_signal_after_s:
            return f"no frame for {age:.0f} s"
        return None

    def jpeg(self, frame: DepthFrame, view: str) -> bytes:
        return self._renderer.jpeg(frame, view, self.options.jpeg_quality)

    def no_signal_jpeg(self, reason: str) -> bytes:
        reason = redact(reason)
        now = int(time.time())
        return self._renderer.no_signal_jpeg(reason, now, self.options.jpeg_quality,
                                             lambda: render_no_signal(reason, now))

    @property
    def color_options(self) -> ColorOptions:
        return self._renderer.color_options

    def health(self) -> Health:
        if self.status is not None:
            try:
                health = self.status.health()
            except Exception as e:
                health = Health(False, f"health check failed: {e!r}")
            return Health(health.ok, redact(health.reason))
        reason = self.no_signal_reason()
        return Health(reason is None, reason or "ok")

    def count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += n

    def enter_client(self) -> bool:
        with self._counts_lock:
            if self._counts["clients"] >= self.options.max_clients:
                self._counts["rejected_clients"] += 1
                return False
            self._counts["clients"] += 1
            return True

    def server_stats(self) -> dict:
        with self._counts_lock:
            out: dict[str, object] = dict(self._counts)
        encodes = self._renderer.encodes()
        out["no_signal_encodes"] = encodes.pop("no_signal")
        out["encodes"] = sum(encodes.values())
        out["encodes_by_view"] = encodes
        out.update(self.counters())
        server = self._server
        out["evicted_idle_connections"] = server.conns.evicted if server is not None else 0
        out["uploads"] = self.uploads.stats()
        return out

    def metrics(self) -> bytes:
        """/metrics: the process's Prometheus metrics (the pipeline's registry), text format 0.0.4."""
        if self.status is None:
            return b""
        return redact(self.status.metrics().decode()).encode()  # label values are shown too

    def all_stats(self) -> dict:
        out: dict = {}
        if self.status is not None:
            try:
                out.update(self.status.snapshot())
            except Exception as e:
                out["stats_error"] = repr(e)
        out["http"] = self.server_stats()
        return redact_data(out)
