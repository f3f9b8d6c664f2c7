"""Reads an HTTP request head straight from the socket, under one deadline and size limits (slowloris guard)."""
from __future__ import annotations

import socket
import time

from streamer.publish.http.options import HttpOptions


class HeadError(Exception):
    """A request head we refuse: `code` is the HTTP status to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_head(conn: socket.socket, options: HttpOptions) -> bytes:
    """Request line and headers, read straight from the socket within one deadline and size limit.

    The stdlib reads line by line with at most a per-read timeout, so a client trickling bytes could hold a
    thread forever; here the whole head must arrive within `header_timeout_s`. b"" when the client closed first."""
    deadline = time.monotonic() + options.header_timeout_s
    buf = bytearray()
    while True:
        first = buf.find(b"\n")
        if (first < 0 and len(buf) > options.max_request_line) or first > options.max_request_line:
            raise HeadError(414, "request line too long")
        for blank in (b"\r\n\r\n", b"\n\n"):
            end = buf.find(blank)
            if end >= 0:
                return bytes(buf[:end + len(blank)])
        if len(buf) > options.max_header_bytes:
            raise HeadError(431, "request header fields too large")
        left = deadline - time.monotonic()
        if left <= 0:
            raise HeadError(408, "request head not received in time")
        conn.settimeout(left)
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            raise HeadError(408, "request head not received in time") from None
        if not chunk:
            return b""
        buf += chunk
