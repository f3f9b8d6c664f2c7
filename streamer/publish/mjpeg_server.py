"""MjpegPublisher: live preview over HTTP (MJPEG), with snapshot, health and stats; stdlib only.

It works like this: `publish(frame)` drops the frame in the slot; the worker moves it to `_latest` and wakes every
viewer through a Condition (always waited on with a timeout). Each viewer thread takes only the newest frame and
asks the JPEG cache for (frame, view): the first viewer to ask renders and encodes, the others reuse the bytes, so
a frame is encoded once per watched view and never for views nobody watches. A slow viewer blocks only its own
thread - it skips frames, never queues them - until `send_timeout_s` without progress drops it. When frames stop or
`no_signal()` gives a reason, viewers get a "no signal" frame about once a second, so they see why.

Endpoints (GET only, everything else 404): `/` page, `/stream.mjpg`, `/snapshot.jpg`, `/healthz`, `/stats`, and
mjpg-streamer's `/?action=stream` and `/?action=snapshot`. Query: `view=depth|side_by_side|overlay`, `fps=N`.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import logging
import math
import socket
import socketserver
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from streamer.frame import DepthFrame
from streamer.options import opt
from streamer.publish.base import VIEWS, Health, NoSignal, Publisher, Render, Stats, encode_jpeg

log = logging.getLogger(__name__)

BOUNDARY = "depthstreamerframe"
NO_SIGNAL_PERIOD_S = 1.0  # a "no signal" frame per second: enough to show it is alive and why
WAIT_S = 0.25  # longest a viewer sleeps before re-checking stop and signal
NO_SIGNAL_SIZE = (360, 640)  # (h, w) of the "no signal" frame


@dataclass(frozen=True)
class MjpegOptions:
    host: str = opt("127.0.0.1", "interface to listen on; 0.0.0.0 serves the whole network (set auth then)")
    port: int = opt(8080, "TCP port; 0 picks a free one (see `address`)", min=0, max=65535)
    default_view: str = opt("depth", "view served when the URL names none", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality", min=10, max=100)
    max_fps: float = opt(30.0, "highest rate sent to one viewer; `?fps=` may only lower it", unit="1/s",
                         min=0.1, max=120.0)
    max_clients: int = opt(8, "concurrent stream viewers; more get 503", min=1, max=256)
    max_connections: int = opt(64, "concurrent connections of any kind; more are answered 503 and closed",
                               min=2, max=1024)
    no_signal_after_s: float = opt(2.0, "show the no-signal frame after this long without a frame",
                                   unit="s", min=0.1, max=60.0)
    header_timeout_s: float = opt(5.0, "time a client has to send its whole request head (slowloris guard)",
                                  unit="s", min=0.5, max=60.0)
    send_timeout_s: float = opt(10.0, "drop a viewer whose socket takes nothing for this long", unit="s",
                                min=0.5, max=300.0)
    max_request_line: int = opt(2048, "longest request line; longer gets 414", unit="bytes", min=256, max=65536)
    max_header_bytes: int = opt(8192, "largest request head (line + headers); larger gets 431", unit="bytes",
                                min=1024, max=65536)
    auth_user: str = opt("", "HTTP Basic user; with auth_password, required on every endpoint")
    auth_password: str = opt("", "HTTP Basic password")
    auth_token: str = opt("", "bearer token (`Authorization: Bearer ...`) accepted on every endpoint")
    cors_origins: tuple = opt((), "origins allowed to read responses from browser scripts, exact match, e.g. "
                              "https://dash.example; empty = no CORS headers")

    def __post_init__(self) -> None:
        if bool(self.auth_user) != bool(self.auth_password):
            raise ValueError("mjpeg.auth_user and mjpeg.auth_password must be set together")
        if self.max_connections < self.max_clients:
            raise ValueError("mjpeg.max_connections must be at least mjpeg.max_clients")


def render_no_signal(reason: str, when: float, size: tuple[int, int] = NO_SIGNAL_SIZE) -> np.ndarray:
    """A dark frame saying NO SIGNAL, the reason (wrapped) and the wall time `when`, so it visibly ticks."""
    h, w = size
    img = np.full((h, w, 3), 32, np.uint8)
    cv2.putText(img, "NO SIGNAL", (w // 2 - 150, h // 3), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (80, 80, 255), 3,
                cv2.LINE_AA)
    words, lines, line = reason.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > 48:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, text in enumerate(lines[:4]):
        cv2.putText(img, text, (24, h // 3 + 50 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (220, 220, 220), 1,
                    cv2.LINE_AA)
    cv2.putText(img, time.strftime("%H:%M:%S", time.localtime(when)), (24, h - 24), cv2.FONT_HERSHEY_SIMPLEX,
                0.6, (160, 160, 160), 1, cv2.LINE_AA)
    return img


class _JpegCache:
    """JPEGs of recent (frame, view) pairs. One lock per group (view): the first viewer to ask encodes while the
    others of that view wait for it, then reuse the bytes."""

    def __init__(self, groups: tuple[str, ...], size: int = 12) -> None:
        self._size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._items_lock = threading.Lock()
        self._group_locks = {g: threading.Lock() for g in groups}
        self.encodes = {g: 0 for g in groups}

    def get(self, group: str, key: tuple, make: Callable[[], bytes]) -> bytes:
        with self._group_locks[group]:
            with self._items_lock:
                data = self._items.get(key)
            if data is not None:
                return data
            data = make()
            self.encodes[group] += 1
            with self._items_lock:
                self._items[key] = data
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            return data


class MjpegPublisher(Publisher):
    """HTTP server streaming the newest frame as MJPEG to any number of viewers (up to `max_clients`)."""

    def __init__(self, options: MjpegOptions = MjpegOptions(), *, render: Render, stats: Stats | None = None,
                 health: Health | None = None, no_signal: NoSignal | None = None) -> None:
        super().__init__("mjpeg-publisher")
        self.options = options
        self._render = render
        self._stats = stats
        self._health = health
        self._no_signal = no_signal
        self._cond = threading.Condition()
        self._latest: DepthFrame | None = None
        self._latest_mono: float | None = None  # when the newest frame reached us
        self._cache = _JpegCache(VIEWS + ("no_signal",))
        self._counts_lock = threading.Lock()
        self._counts = {"clients": 0, "frames_served": 0, "no_signal_served": 0, "rejected_clients": 0,
                        "rejected_connections": 0, "bad_requests": 0, "unauthorized": 0}
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self.address: tuple[str, int] = ("", 0)  # (host, port) actually bound

    # -- stage -------------------------------------------------------------------------------------------------
    def viewers(self) -> int:
        """Clients currently streaming (snapshots and stats requests do not count)."""
        with self._counts_lock:
            return self._counts["clients"]

    def _open(self) -> None:
        o = self.options
        server = _Server((o.host, o.port), _Handler)
        server.app = self
        self._server = server
        self.address = server.server_address[:2]
        self._serve_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                              name="mjpeg-accept", daemon=True)
        self._serve_thread.start()
        log.info("mjpeg: serving on http://%s:%d/", *self.address)

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
        if self._no_signal is not None:
            try:
                reason = self._no_signal()
            except Exception as e:
                reason = f"source state unknown: {e!r}"
            if reason:
                return reason
        if self._latest_mono is None:
            return "waiting for the first frame"
        age = time.monotonic() - self._latest_mono
        if age > self.options.no_signal_after_s:
            return f"no frame for {age:.0f} s"
        return None

    def jpeg(self, frame: DepthFrame, view: str) -> bytes:
        key = (frame.frame.seq, frame.frame.capture_mono, view)  # seq alone repeats when a source restarts
        return self._cache.get(view, key, lambda: encode_jpeg(self._render(frame, view), self.options.jpeg_quality))

    def no_signal_jpeg(self, reason: str) -> bytes:
        now = int(time.time())
        return self._cache.get("no_signal", ("no_signal", reason, now),
                               lambda: encode_jpeg(render_no_signal(reason, now), self.options.jpeg_quality))

    def health(self) -> tuple[bool, str]:
        if self._health is not None:
            try:
                return self._health()
            except Exception as e:
                return False, f"health check failed: {e!r}"
        reason = self.no_signal_reason()
        return (reason is None, reason or "ok")

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
            out = dict(self._counts)
        encodes = dict(self._cache.encodes)
        out["no_signal_encodes"] = encodes.pop("no_signal")
        out["encodes"] = sum(encodes.values())
        out["encodes_by_view"] = encodes
        out.update(self.counters())
        return out

    def all_stats(self) -> dict:
        out: dict = {}
        if self._stats is not None:
            try:
                out.update(self._stats())
            except Exception as e:
                out["stats_error"] = repr(e)
        out["mjpeg"] = self.server_stats()
        return out


class _Server(ThreadingHTTPServer):
    """Threaded server that caps connections and can cut every open one at stop."""

    daemon_threads = True
    request_queue_size = 32
    app: MjpegPublisher

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's version does a reverse DNS lookup: skip it
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self._conns_lock:
            full = len(self._conns) >= self.app.options.max_connections
            if not full:
                self._conns.add(request)
        if full:
            self.app.count("rejected_connections")
            try:
                request.settimeout(0.5)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        log.debug("mjpeg: connection from %s ended with an error", client_address, exc_info=True)


class _HeadError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "depth-streamer"
    default_request_version = "HTTP/1.0"  # so errors to version-less requests still get a status line

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        log.debug("mjpeg: %s %s", self.address_string(), format % args)

    # -- request reading: our own limits and deadline, then the stdlib parser --------------------------------------
    def handle(self) -> None:
        app = self.server.app
        self.command, self.request_version, self.requestline = "", "HTTP/1.0", ""
        try:
            head = self._read_head()
        except _HeadError as e:
            app.count("bad_requests")
            self.close_connection = True
            self.connection.settimeout(1.0)
            self.send_error(e.code, str(e))
            return
        except (TimeoutError, OSError):
            return
        if not head:
            return
        self.rfile = io.BytesIO(head)
        self.raw_requestline = self.rfile.readline()
        if not self.parse_request():  # answers 400 itself
            app.count("bad_requests")
            return
        self.close_connection = True
        self.connection.settimeout(app.options.send_timeout_s)
        if self.command == "OPTIONS":
            self._preflight()
        elif self.command != "GET":
            self._reply(405, b"only GET\n", headers=(("Allow", "GET, OPTIONS"),))
        else:
            self._route()

    def _read_head(self) -> bytes:
        """Request line and headers, read straight from the socket within one deadline and size limit."""
        o = self.server.app.options
        deadline = time.monotonic() + o.header_timeout_s
        buf = bytearray()
        while True:
            first = buf.find(b"\n")
            if (first < 0 and len(buf) > o.max_request_line) or first > o.max_request_line:
                raise _HeadError(414, "request line too long")
            for blank in (b"\r\n\r\n", b"\n\n"):
                end = buf.find(blank)
                if end >= 0:
                    return bytes(buf[:end + len(blank)])
            if len(buf) > o.max_header_bytes:
                raise _HeadError(431, "request header fields too large")
            left = deadline - time.monotonic()
            if left <= 0:
                raise _HeadError(408, "request head not received in time")
            self.connection.settimeout(left)
            try:
                chunk = self.connection.recv(4096)
            except TimeoutError:
                raise _HeadError(408, "request head not received in time") from None
            if not chunk:
                return b""
            buf += chunk

    # -- routing -----------------------------------------------------------------------------------------------
    def _route(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        try:
            query = parse_qs(url.query, max_num_fields=16)
        except ValueError:
            app.count("bad_requests")
            self._reply(400, b"bad query\n")
            return
        if not self._authorized():
            app.count("unauthorized")
            scheme = 'Basic realm="depth-streamer", charset="UTF-8"' if app.options.auth_user \
                else 'Bearer realm="depth-streamer"'
            self._reply(401, b"unauthorized\n", headers=(("WWW-Authenticate", scheme),))
            return
        path, action = url.path, query.get("action", [None])[0]
        if path == "/" and action is None:
            self._reply(200, INDEX_HTML, "text/html; charset=utf-8")
        elif path == "/stream.mjpg" or (path == "/" and action == "stream"):
            self._with_view(query, self._stream)
        elif path == "/snapshot.jpg" or (path == "/" and action == "snapshot"):
            self._with_view(query, self._snapshot)
        elif path == "/healthz":
            ok, reason = app.health()
            self._reply(200 if ok else 503, (reason if not ok else "ok").encode() + b"\n")
        elif path == "/stats":
            self._reply(200, json.dumps(app.all_stats(), default=str).encode(), "application/json")
        else:
            self._reply(404, b"not found\n")

    def _with_view(self, query: dict, serve: Callable[[str, float], None]) -> None:
        o = self.server.app.options
        view = query.get("view", [o.default_view])[0]
        try:
            fps = float(query.get("fps", [o.max_fps])[0])
        except ValueError:
            fps = -1.0
        if view not in VIEWS or not math.isfinite(fps) or fps <= 0:
            self.server.app.count("bad_requests")
            self._reply(400, f"view must be one of {', '.join(VIEWS)}; fps a positive number\n".encode())
            return
        serve(view, min(fps, o.max_fps))

    def _authorized(self) -> bool:
        o = self.server.app.options
        if not (o.auth_user or o.auth_token):
            return True
        scheme, _, cred = self.headers.get("Authorization", "").strip().partition(" ")
        cred_bytes = cred.strip().encode("latin-1", "replace")
        if o.auth_token and scheme.lower() == "bearer":
            return hmac.compare_digest(cred_bytes, o.auth_token.encode())
        if o.auth_user and scheme.lower() == "basic":
            try:
                given = base64.b64decode(cred_bytes, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(given, f"{o.auth_user}:{o.auth_password}".encode())
        return False

    # -- endpoints ---------------------------------------------------------------------------------------------
    def _stream(self, view: str, fps: float) -> None:
        app = self.server.app
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
            self._stream_loop(view, 1.0 / fps)
        except OSError:
            pass  # viewer left, or took nothing for send_timeout_s
        finally:
            app.count("clients", -1)

    def _stream_loop(self, view: str, interval: float) -> None:
        app = self.server.app
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
                    self._write_part(app.no_signal_jpeg(reason), ("X-No-Signal", _header_safe(reason)))
                    app.count("no_signal_served")
                    next_no_signal = now + NO_SIGNAL_PERIOD_S
                continue
            if frame is None:
                continue
            shown = frame
            try:
                jpeg = app.jpeg(frame, view)
            except Exception:
                log.exception("mjpeg: rendering %s for frame %d failed", view, frame.frame.seq)
                continue
            self._write_part(jpeg, ("X-Seq", str(frame.frame.seq)))
            app.count("frames_served")
            app.pause(now + interval - time.monotonic())  # the ?fps cap

    def _write_part(self, jpeg: bytes, extra: tuple[str, str]) -> None:
        head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                f"{extra[0]}: {extra[1]}\r\n\r\n").encode("latin-1")
        self.wfile.write(head + jpeg + b"\r\n")

    def _snapshot(self, view: str, fps: float) -> None:
        app = self.server.app
        frame = app.wait_newer(None, 0.0)
        reason = app.no_signal_reason()
        if reason is not None or frame is None:
            reason = reason or "no frame yet"
            self._reply(503, app.no_signal_jpeg(reason), "image/jpeg", (("X-No-Signal", _header_safe(reason)),))
            return
        self._reply(200, app.jpeg(frame, view), "image/jpeg", (("X-Seq", str(frame.frame.seq)),))
        app.count("frames_served")

    def _preflight(self) -> None:
        if self._allowed_origin() is None:
            self._reply(403, b"origin not allowed\n")
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Authorization")
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
        self.wfile.write(body)

    def _allowed_origin(self) -> str | None:
        headers = getattr(self, "headers", None)
        origin = headers.get("Origin") if headers is not None else None
        return origin if origin and origin in tuple(self.server.app.options.cors_origins) else None

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        origin = self._allowed_origin()
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
        super().end_headers()


def _header_safe(text: str) -> str:
    """Printable ASCII only: a reason may carry anything, a header line may not."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:200]


INDEX_HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>depth-streamer</title>
<style>body{font:14px sans-serif;background:#111;color:#ddd;margin:1em}a{color:#8cf;margin-right:1em}
img{max-width:100%;display:block;margin:.5em 0}pre{font-size:12px}</style></head>
<body>
<div><a href="?view=depth">depth</a><a href="?view=side_by_side">side by side</a><a href="?view=overlay">overlay</a>
<a href="snapshot.jpg">snapshot</a></div>
<img id="stream" alt="live depth stream">
<pre id="stats">loading stats...</pre>
<script>
const view = new URLSearchParams(location.search).get("view");
document.getElementById("stream").src = "stream.mjpg" + (view ? "?view=" + encodeURIComponent(view) : "");
async function tick() {
  const out = document.getElementById("stats");
  try {
    const r = await fetch("stats", {cache: "no-store"});
    out.textContent = JSON.stringify(await r.json(), null, 2);
  } catch (e) { out.textContent = "stats unavailable: " + e; }
}
tick(); setInterval(tick, 1000);
</script>
</body></html>
"""
