"""HttpOptions: the HTTP preview's settings as data, each with default, unit, bounds and description."""
from __future__ import annotations

from dataclasses import dataclass

from streamer.config.net import host_problem
from streamer.config.options import opt
from streamer.render.views import VIEWS


@dataclass(frozen=True)
class HttpOptions:
    host: str = opt("127.0.0.1", "interface to listen on; 0.0.0.0 serves the whole network (set auth then)")
    port: int = opt(8080, "TCP port; 0 picks a free one (see `address`)", min=0, max=65535)
    default_view: str = opt("depth", "view served when the URL names none", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality", min=10, max=100)
    max_fps: float = opt(30.0, "highest rate sent to one viewer; `?fps=` may only lower it", unit="1/s",
                         min=0.1, max=120.0)
    max_clients: int = opt(8, "concurrent stream viewers; more get 503", min=1, max=256)
    max_connections: int = opt(64, "concurrent connections of any kind; when full, a new one replaces the oldest "
                                   "that has not sent its request yet, else gets one of 4 seats reserved for "
                                   "/healthz and /metrics, else 503", min=2, max=1024)
    no_signal_after_s: float = opt(2.0, "show the no-signal frame after this long without a frame",
                                   unit="s", min=0.1, max=60.0)
    header_timeout_s: float = opt(5.0, "time a client has to send its whole request head (slowloris guard)",
                                  unit="s", min=0.5, max=60.0)
    send_timeout_s: float = opt(10.0, "drop a viewer whose socket takes nothing for this long", unit="s",
                                min=0.5, max=300.0)
    max_request_line: int = opt(2048, "longest request line; longer gets 414", unit="bytes", min=256, max=65536)
    max_header_bytes: int = opt(8192, "largest request head (line + headers); larger gets 431", unit="bytes",
                                min=1024, max=65536)
    max_uploads: int = opt(1, "photos computed at once for POST /depth (each takes a core while it runs); more get "
                                 "503 with Retry-After; 0 turns uploads off", min=0, max=16)
    upload_max_bytes: int = opt(20_000_000, "largest photo POST /depth takes; larger gets 413 before the body is "
                                            "read", unit="bytes", min=1024, max=200_000_000)
    upload_max_pixels: int = opt(50_000_000, "largest photo in pixels (from its header, before decoding); larger "
                                             "gets 413", unit="pixels", min=1024, max=250_000_000)
    upload_timeout_s: float = opt(30.0, "time a client has to send a photo's whole body", unit="s", min=1.0,
                                  max=600.0)
    upload_threads: int = opt(1, "inference threads per upload; the live stream keeps the rest", min=1, max=64)
    upload_keep_s: float = opt(60.0, "the photo network (~65 MB) is loaded by the first upload and released this "
                                     "long after the last one; the next photo loads it again (about a second)",
                               unit="s", min=0.0, max=86400.0)
    upload_nice: int = opt(10, "niceness of the thread computing an upload (0-19), so the live stream wins the "
                               "CPU while both run", min=0, max=19)
    auth_user: str = opt("", "HTTP Basic user; with auth_password, required on every endpoint")
    auth_password: str = opt("", "HTTP Basic password")
    auth_token: str = opt("", "bearer token (`Authorization: Bearer ...`) accepted on every endpoint")
    cors_origins: tuple[str, ...] = opt((), "origins allowed to read responses from browser scripts, exact match, e.g. "
                              "https://dash.example; empty = no CORS headers")
    allowed_hosts: tuple[str, ...] = opt((), "without auth, Host names served besides loopback names, IP addresses "
                                            "and this machine's name (DNS-rebinding guard; others get 421), e.g. "
                                            "cam.example.lan or .example.lan for a whole domain")

    def validate(self) -> None:
        """Checks that need the outside world; the config loader calls it once before anything starts."""
        problem = host_problem(self.host)
        if problem:
            raise ValueError(f"host = {self.host!r}: {problem}")

    def __post_init__(self) -> None:
        if bool(self.auth_user) != bool(self.auth_password):
            raise ValueError("http.auth_user and http.auth_password must be set together")
        for name in self.allowed_hosts:
            if not name or any(c in name for c in " /:@*") or name != name.strip():
                raise ValueError(f"http.allowed_hosts: {name!r} is not a host name (write cam.example.lan or "
                                 f".example.lan, without scheme, port or path)")
        if self.max_connections < self.max_clients:
            raise ValueError("http.max_connections must be at least http.max_clients")
