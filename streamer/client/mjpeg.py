"""MjpegStream: a client of one MJPEG response (multipart/x-mixed-replace), part by part. The one parser of the
preview's stream: the viewer window and the soak's load generators both read through it."""
from __future__ import annotations

import base64
import http.client
from urllib.parse import unquote, urlsplit

MAX_HEADER_LINES = 64  # a part whose head never ends is malformed, not a reason to read forever


class StreamError(ConnectionError):
    """The stream cannot be opened (unreachable, wrong status, not MJPEG) or ended; the message says which."""


class MjpegStream:
    """GET an MJPEG URL, then `next_part()` returns (headers, JPEG bytes) until the stream ends.

    Credentials come from the URL's userinfo (HTTP Basic) or `token` (bearer); neither is ever part of a message."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 5.0) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.shown = f"{u.scheme}://{u.hostname}{f':{u.port}' if u.port else ''}{u.path}"  # no userinfo, no query
        self._target = (u.scheme, u.hostname, u.port, (u.path or "/") + (f"?{u.query}" if u.query else ""))
        self._headers = {"Accept": "multipart/x-mixed-replace, image/jpeg"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif u.username is not None:
            userpass = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(userpass).decode()
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self.boundary = b""

    def open(self) -> MjpegStream:
        self.close()
        scheme, host, port, target = self._target
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.timeout)
        try:
            conn.request("GET", target, headers=self._headers)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise StreamError(f"cannot reach {self.shown}: {e}") from e
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200 or "multipart/x-mixed-replace" not in ctype or "boundary=" not in ctype:
            detail = resp.read(200).decode("utf-8", "replace").strip()
            conn.close()
            raise StreamError(f"{self.shown}: HTTP {resp.status} {resp.reason}, {ctype or 'no content type'}"
                              f" - not an MJPEG stream{': ' + detail if detail else ''}")
        self.boundary = b"--" + ctype.split("boundary=", 1)[1].strip().strip('"').encode()
        self._conn, self._resp = conn, resp
        return self

    def next_part(self) -> tuple[dict[str, str], bytes]:
        """The next part: (headers with lower-case names, body). StreamError when the stream ends, ValueError when a
        part is malformed (no Content-Length, short body), OSError on a socket timeout."""
        resp = self._resp
        if resp is None:
            raise StreamError("stream not open")
        line = resp.readline(1024)
        while not line.startswith(self.boundary):  # skips the CRLF after the previous body, and any preamble
            if not line:
                raise StreamError(f"{self.shown}: stream ended")
            line = resp.readline(1024)
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = resp.readline(8192)
            if not line:
                raise StreamError(f"{self.shown}: stream ended inside a part head")
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("MJPEG part head too long")
        if "content-length" not in headers:
            raise ValueError("MJPEG part without Content-Length")
        length = int(headers["content-length"])
        body = resp.read(length)
        if len(body) != length:
            raise StreamError(f"{self.shown}: stream ended inside a part ({len(body)} of {length} bytes)")
        return headers, body

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._resp = None
