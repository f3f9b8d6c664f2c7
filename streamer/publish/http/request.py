"""Reads an HTTP request head (and, for uploads, its body) straight from the socket, each under one deadline and
size limits (slowloris guard); tells whether a client has gone away while we are not writing to it, and drains what
a client still sends after an early answer."""
from __future__ import annotations

import select
import socket
import time

from streamer.publish.http.options import HttpOptions


class HeadError(Exception):
    """A request head (or body) we refuse: `code` is the HTTP status to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_head(conn: socket.socket, options: HttpOptions, timeout_s: float | None = None) -> bytes:
    """Request line and headers, read straight from the socket within one deadline and size limit.

    The stdlib reads line by line with at most a per-read timeout, so a client trickling bytes could hold a
    thread forever; here the whole head must arrive within `header_timeout_s` (or `timeout_s`). b"" when the client
    closed first."""
    return read_head_and_rest(conn, options, timeout_s)[0]


def read_head_and_rest(conn: socket.socket, options: HttpOptions,
                       timeout_s: float | None = None) -> tuple[bytes, bytes]:
    """read_head, plus the bytes that came after the head in the same reads: the start of a request body."""
    deadline = time.monotonic() + (options.header_timeout_s if timeout_s is None else timeout_s)
    buf = bytearray()
    while True:
        first = buf.find(b"\n")
        if (first < 0 and len(buf) > options.max_request_line) or first > options.max_request_line:
            raise HeadError(414, "request line too long")
        for blank in (b"\r\n\r\n", b"\n\n"):
            end = buf.find(blank)
            if end >= 0:
                if end + len(blank) > options.max_header_bytes:  # whole in a few reads: still over the limit
                    raise HeadError(431, "request header fields too large")
                return bytes(buf[:end + len(blank)]), bytes(buf[end + len(blank):])
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
            return b"", b""
        buf += chunk


def peer_closed(conn: socket.socket) -> bool:
    """Whether the client closed or reset its end, checked without blocking: a viewer that waits between parts
    (a low ?fps) sends nothing, so readable-with-nothing-to-read means it left."""
    poller = select.poll()  # not select(): no limit on the descriptor's number
    poller.register(conn, select.POLLIN | select.POLLPRI)
    events = poller.poll(0)
    if not events:
        return False
    if events[0][1] & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
        return True
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""  # readable, so this returns at once
    except OSError:
        return True


def read_body(conn: socket.socket, start: bytes, length: int, timeout_s: float) -> bytearray:
    """Exactly `length` body bytes (`start`: those read with the head) within one deadline (slowloris guard).

    HeadError 408 past the deadline, 400 when the client stops sending first."""
    body = bytearray(length)
    view = memoryview(body)
    got = min(len(start), length)
    view[:got] = start[:got]
    deadline = time.monotonic() + timeout_s
    while got < length:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HeadError(408, f"request body not received in {timeout_s:g} s ({got} of {length} bytes)")
        conn.settimeout(left)
        try:
            n = conn.recv_into(view[got:], min(length - got, 1 << 20))
        except TimeoutError:
            continue
        if n == 0:
            raise HeadError(400, f"request body ended after {got} of {length} bytes")
        got += n
    return body  # not bytes(body): a copy would hold the photo twice


def discard_input(conn: socket.socket, seconds: float = 1.0, limit: int = 64 << 20) -> None:
    """After answering a request whose body we did not read: stop sending, then read and drop what the client still
    sends for up to `seconds`. Closing with unread bytes would send a reset, and a reset makes the client's system
    drop our answer before the client has read it."""
    try:
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        while limit > 0 and (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            chunk = conn.recv(65536)
            if not chunk:
                return
            limit -= len(chunk)
    except OSError:
        pass
