"""HttpRequestHandler: one HTTP request to the preview - reads its head, routes it, streams or answers it."""
from __future__ import annotations

import io
import json
import logging
import math
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from streamer.core.frame import DepthFrame
from streamer.publish.http.app import PreviewApp
from streamer.publish.http.auth import allowed_origin, auth_challenge, auth_help, authorized, header_safe, token_login
from streamer.publish.http.connections import RESERVED_HEAD_S, RESERVED_PATHS
from streamer.publish.http.hosts import host_allowed, misdirected
from streamer.publish.http.legend import depth_at, legend_info
from streamer.publish.http.request import HeadError, discard_input, peer_closed, read_head_and_rest
from streamer.publish.http.server import HttpServer
from streamer.publish.http.streams import route_stream
from streamer.publish.http.upload import Answer, post_depth, text, upload_info
from streamer.render.views import VIEWS

log = logging.getLogger(__name__)

BOUNDARY = "depthstreamerframe"
INDEX_HTML = (Path(__file__).with_name("index.html")).read_bytes()  # the preview page, read once at import
NO_SIGNAL_PERIOD_S = 1.0  # a "no signal" frame per second: enough to show it is alive and why
WAIT_S = 0.25  # longest a viewer sleeps before re-checking stop and signal
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text exposition format


class HttpRequestHandler(BaseHTTPRequestHandler):
    server: HttpServer
    app: PreviewApp  # the server's; a stream's own under /s/ID/ (several streams)
    server_version = "depth-streamer"
    default_request_version = "HTTP/1.0"  # so errors to version-less requests still get a status line

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        log.debug("http: %s %s", self.address_string(), format % args)

    # -- request reading: our own limits and deadline, then the stdlib parser --------------------------------------
    def handle(self) -> None:
        app = self.app = self.server.app
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        reserved = self.server.conns.reserved(self.connection)  # a seat past the cap: health and metrics only
        try:
            head, self.body_start = read_head_and_rest(self.connection, app.options,
                                                       RESERVED_HEAD_S if reserved else None)
        except HeadError as e:
            app.count("bad_requests")
            self.close_connection = True
            self.connection.settimeout(1.0)
            self.send_error(e.code, str(e))
            return
        except (TimeoutError, OSError):
            return
        if not head or not self.server.conns.head_received(self.connection):
            return
        self.rfile = io.BytesIO(head)
        self.raw_requestline = self.rfile.readline()
        if not self.parse_request():  # answers 400 itself
            app.count("bad_requests")
            return
        self.close_connection = True
        self.connection.settimeout(app.options.send_timeout_s)
        self.body_read = False
        duplicated = [name for name in ("Content-Length", "Host") if len(self.headers.get_all(name) or ()) > 1]
        if duplicated:  # two lengths (or hosts): proxies and we could read different requests (smuggling)
            app.count("bad_requests")
            self._reply(400, f"duplicate {duplicated[0]} header\n".encode())
        elif not host_allowed(app.options, self.headers.get("Host")):
            app.count("bad_requests")
            self._reply(421, (misdirected(self.headers.get("Host", "")) + "\n").encode())
        elif reserved and urlsplit(self.path).path not in RESERVED_PATHS:
            self._reply(503, b"busy: only /healthz and /metrics are served now\n", headers=(("Retry-After", "5"),))
        elif self.command == "OPTIONS":
            self._preflight()
        elif self.command not in ("GET", "HEAD", "POST"):  # HEAD: what GET answers, without the body
            self._reply(405, b"only GET, HEAD and POST\n", headers=(("Allow", "GET, HEAD, POST, OPTIONS"),))
        else:
            self._route()
        if self.command == "POST" and not self.body_read:
            discard_input(self.connection)  # closing on an unread body resets: the client would lose the answer

    # -- routing -----------------------------------------------------------------------------------------------
    def _route(self) -> None:
        app = self.app
        url = urlsplit(self.path)
        try:
            query = parse_qs(url.query, max_num_fields=16)
        except ValueError:
            app.count("bad_requests")
            self._reply(400, b"bad query\n")
            return
        login = token_login(app.options, url.path, query)
        if login is not None:  # a browser bringing the token once: a cookie from now on, the URL without it
            self._reply(303, b"", headers=(("Location", login[0]), ("Set-Cookie", login[1])))
            return
        if not authorized(app.options, self.headers.get("Authorization", ""), self.headers.get("Cookie", "")):
            app.count("unauthorized")
            self._reply(401, auth_help(app.options), headers=(("WWW-Authenticate", auth_challenge(app.options)),))
            return
        path, action = url.path, query.get("action", [None])[0]
        if app.feeds:  # several streams: /s/ID/... is stream ID's; the root keeps /healthz, /stats, /metrics, /depth
            routed = route_stream(app, path, action, self.command)
            if isinstance(routed, Answer):
                self._answer(routed)
                return
            app = self.app = routed[0]
            path = routed[1]
        if self.command == "POST":
            self._post(path, query)
        elif path == "/" and action is None:
            self._reply(200, INDEX_HTML, "text/html; charset=utf-8")
        elif path == "/stream.mjpg" or (path == "/" and action == "stream"):
            self._with_view(query, self._stream)
        elif path == "/snapshot.jpg" or (path == "/" and action == "snapshot"):
            self._with_view(query, self._snapshot)
        elif path == "/healthz":
            health = app.health()
            # Healthy says "ok", "ended: ..." (a stream whose file ended), or (several streams) "ok; ended: ...".
            said = health.reason if not health.ok or health.reason.startswith(("ok", "ended")) else "ok"
            self._reply(200 if health.ok else 503, said.encode() + b"\n")
        elif path == "/stats":
            self._reply(200, json.dumps(app.all_stats(), default=str).encode(), "application/json")
        elif path == "/metrics":
            self._reply(200, app.metrics(), METRICS_CONTENT_TYPE)
        elif path == "/depth":
            self._answer(upload_info(app))
        elif path == "/legend.json":
            self._reply(200, json.dumps(legend_info(app)).encode(), "application/json")
        elif path == "/depth_at":
            code, body = depth_at(app, query)
            self._reply(code, json.dumps(body).encode(), "application/json")
        else:
            self._reply(404, b"not found\n")

    def _with_view(self, query: dict, serve: Callable[[str, float], None]) -> None:
        o = self.app.options
        view = query.get("view", [o.default_view])[0]
        try:
            fps = float(query.get("fps", [o.max_fps])[0])
        except ValueError:
            fps = -1.0
        if view not in VIEWS or not math.isfinite(fps) or fps <= 0:
            self.app.count("bad_requests")
            self._reply(400, f"view must be one of {', '.join(VIEWS)}; fps a positive number\n".encode())
            return
        serve(view, min(fps, o.max_fps))

    # -- endpoints ---------------------------------------------------------------------------------------------
    def _post(self, path: str, query: dict) -> None:
        if path != "/depth":
            self._answer(text(405, "POST goes to /depth only", ("Allow", "GET, HEAD, OPTIONS")))
            return
        expect = self.request_version == "HTTP/1.1" and self.headers.get("Expect", "").lower() == "100-continue"
        answer = post_depth(self.app, self.headers, self.connection, self.body_start, query, expect)
        self.body_read = answer.body_read
        self._answer(answer)

    def _stream(self, view: str, fps: float) -> None:
        app = self.app
        if not app.enter_client():
            self._reply(503, b"too many viewers\n", headers=(("Retry-After", "5"),))
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache, no-store, must-revalidate, private")
            self.send_header("Pragma", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self._stream_loop(view, 1.0 / fps)
        except OSError:
            pass  # viewer left, or took nothing for send_timeout_s
        finally:
            app.count("clients", -1)

    def _stream_loop(self, view: str, interval: float) -> None:
        app = self.app
        shown: DepthFrame | None = None
        next_no_signal = 0.0
        while not app.stopping:
            frame = app.wait_newer(shown, WAIT_S)
            reason = app.no_signal_reason()
            now = time.monotonic()
            if reason is not None:
                if frame is not None:
                    shown = frame  # consumed, so the next wait really waits
                if now >= next_no_signal:
                    self._write_part(app.no_signal_jpeg(reason), ("X-No-Signal", header_safe(reason)))
                    app.count("no_signal_served")
                    next_no_signal = now + NO_SIGNAL_PERIOD_S
                continue
            if frame is None:
                continue
            shown = frame
            try:
                jpeg = app.jpeg(frame, view)
            except Exception:
                log.exception("http: rendering %s for frame %d failed", view, frame.captured.seq)
                continue
            self._write_part(jpeg, ("X-Seq", str(frame.captured.seq)))
            app.count("frames_served")
            self._pause_until(now + interval)  # the ?fps cap

    def _pause_until(self, when: float) -> None:
        """Sleep until `when` (a low ?fps), noticing within WAIT_S a viewer that leaves meanwhile: its seat is freed
        then, not at the next write hours later."""
        app = self.app
        while (left := when - time.monotonic()) > 0 and not app.stopping:
            if peer_closed(self.connection):
                raise ConnectionAbortedError("viewer left during the ?fps pause")
            app.pause(min(left, WAIT_S))

    def _write_part(self, jpeg: bytes, extra: tuple[str, str]) -> None:
        head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                f"{extra[0]}: {extra[1]}\r\n\r\n").encode("latin-1")
        self.wfile.write(head + jpeg + b"\r\n")

    def _snapshot(self, view: str, fps: float) -> None:
        app = self.app
        frame = app.wait_newer(None, 0.0)
        reason = app.no_signal_reason()
        if reason is not None or frame is None:
            reason = reason or "no frame yet"
            self._reply(503, app.no_signal_jpeg(reason), "image/jpeg", (("X-No-Signal", header_safe(reason)),))
            return
        self._reply(200, app.jpeg(frame, view), "image/jpeg", (("X-Seq", str(frame.captured.seq)),))
        app.count("frames_served")

    def _preflight(self) -> None:
        if self._allowed_origin() is None:
            self._reply(403, b"origin not allowed\n")
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- response helpers --------------------------------------------------------------------------------------
    def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
               headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self, answer: Answer) -> None:
        self._reply(answer.code, answer.body, answer.ctype, answer.headers)

    def _allowed_origin(self) -> str | None:
        # No `headers` yet when an error is answered before the head was parsed.
        return allowed_origin(self.app.options, getattr(self, "headers", None))

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        origin = self._allowed_origin()
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
        super().end_headers()
