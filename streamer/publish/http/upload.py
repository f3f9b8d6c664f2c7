"""POST /depth: a photo in, its depth out; GET /depth: what the endpoint takes, as JSON (the page reads it).

POST /depth?format=png|png16|npy with the photo's bytes as the body (Content-Type image/* or
application/octet-stream, Content-Length required): 200 with the colorized depth as PNG at the photo's size
(default), a 16-bit PNG of the depth normalised to 0..65535 at the photo's size, or the raw float32 network output
as .npy. Refused before the body is read: 411 without Content-Length (chunked bodies are not taken), 413 over
`upload_max_bytes`, 415 for a non-image Content-Type, 503 + Retry-After while `max_uploads` photos are computing.
After reading: 408 when the body does not arrive within `upload_timeout_s`, 400 for bytes that are no image, 413
over `upload_max_pixels`, 415 for image formats other than JPEG, PNG, WebP and BMP. Errors are one line of text.

The photo is computed on the request's own thread, reniced by `upload_nice` and with `upload_threads` inference
threads (see `streamer.model.photo_runner`), so the live stream keeps its rate; at most `max_uploads` bodies are held in
memory at once, since the slot is taken before the body is read.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message

from streamer.errors import NonFiniteOutput
from streamer.photo.decode import FORMATS, PhotoError, decode
from streamer.photo.depth import photo_depth
from streamer.photo.encode import DEPTH_FORMATS, encode
from streamer.publish.http.app import PreviewApp
from streamer.publish.http.request import HeadError, read_body

log = logging.getLogger(__name__)
RETRY_AFTER_S = 2
BODY_TYPES = ("application/octet-stream",)  # besides image/*: what a browser sends for a file it cannot type


@dataclass(frozen=True)
class Answer:
    code: int
    body: bytes
    ctype: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    body_read: bool = False  # False: the request body is still unread (discard it before closing)


def text(code: int, message: str, *headers: tuple[str, str], body_read: bool = False) -> Answer:
    return Answer(code, message.encode() + b"\n", headers=headers, body_read=body_read)


def upload_info(app: PreviewApp) -> Answer:
    o, still = app.options, app.still
    doc = {"enabled": still is not None and o.max_uploads > 0, "formats": list(DEPTH_FORMATS),
           "photo_formats": list(FORMATS), "max_bytes": o.upload_max_bytes, "max_pixels": o.upload_max_pixels,
           "max_uploads": o.max_uploads, "net_size": still.net_size if still is not None else None}
    return Answer(200, json.dumps(doc).encode(), "application/json")


def post_depth(app: PreviewApp, headers: Message, conn: socket.socket, body_start: bytes, query: dict,
               expect_continue: bool) -> Answer:
    """The answer to POST /depth; reads the body from `conn` (after `body_start`) only once the head passed."""
    o, gate = app.options, app.uploads
    refused = _check_head(app, headers, query)
    if refused is not None:
        gate.count("refused")
        return refused
    if not gate.enter():
        return text(503, f"busy: {o.max_uploads} photo(s) computing; try again in {RETRY_AFTER_S} s",
                    ("Retry-After", str(RETRY_AFTER_S)))
    outcome, t0 = "failed", time.perf_counter()
    try:
        if expect_continue:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = [read_body(conn, body_start, int(headers["Content-Length"]), o.upload_timeout_s)]
        except HeadError as e:
            return text(e.code, str(e))
        answer = _compute(app, body, query.get("format", ["png"])[0])  # it drops the bytes once decoded
        outcome = "done" if answer.code == 200 else "failed"
        return answer
    finally:
        conn.settimeout(o.send_timeout_s)
        gate.leave(outcome, (time.perf_counter() - t0) * 1e3 if outcome == "done" else None)


def _check_head(app: PreviewApp, headers: Message, query: dict) -> Answer | None:
    o = app.options
    if app.still is None or o.max_uploads == 0:
        return text(404, "photo uploads are off on this server (http.max_uploads = 0)")
    fmt = query.get("format", ["png"])[0]
    if fmt not in DEPTH_FORMATS:
        return text(400, f"format must be one of {', '.join(DEPTH_FORMATS)}")
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not (ctype.startswith("image/") or ctype in BODY_TYPES):
        return text(415, f"Content-Type must be image/* (or application/octet-stream), not {ctype or 'absent'!r}")
    if headers.get("Transfer-Encoding") is not None or headers.get("Content-Length") is None:
        return text(411, "Content-Length required (send the photo as a plain body, not chunked)")
    length = (headers.get("Content-Length") or "").strip()
    if not (length.isascii() and length.isdigit()):
        return text(400, "Content-Length must be a number of bytes")
    if int(length) == 0:
        return text(400, "empty body: send the photo's bytes")
    if int(length) > o.upload_max_bytes:
        return text(413, f"photo of {int(length)} bytes is over the limit of {o.upload_max_bytes} bytes")
    return None


def _compute(app: PreviewApp, body: list[bytearray], fmt: str) -> Answer:
    """`body`: a one-item list, emptied once the photo is decoded, so the encoded bytes (up to upload_max_bytes) are
    not held through the inference."""
    o, still = app.options, app.still
    assert still is not None
    _renice(o.upload_nice)  # this thread serves this one request and ends with it
    try:
        photo = decode(body.pop(), o.upload_max_pixels, still.max_input_side)
    except PhotoError as e:
        return text(e.code, str(e), body_read=True)
    t0 = time.perf_counter()
    try:
        raw = photo_depth(still.depth, photo.image, "the photo")
        data = encode(raw, fmt, (photo.width, photo.height), app.color_options)
    except NonFiniteOutput as e:  # NaN depth is never a result: one line, no traceback (the weights are at fault)
        log.error("http: depth of an uploaded %dx%d %s refused: %s", photo.width, photo.height, photo.format, e)
        return text(500, f"depth failed: {e}", body_read=True)
    except Exception as e:
        log.exception("http: depth of an uploaded %dx%d %s failed", photo.width, photo.height, photo.format)
        return text(500, f"depth failed: {e}", body_read=True)
    ms = (time.perf_counter() - t0) * 1e3
    name = "depth.npy" if fmt == "npy" else f"depth{'16' if fmt == 'png16' else ''}.png"
    info = (("Content-Disposition", f'inline; filename="{name}"'),
            ("X-Photo-Size", f"{photo.width}x{photo.height}"), ("X-Network-Size", f"{raw.shape[1]}x{raw.shape[0]}"),
            ("X-Depth-Range", f"{float(raw.min()):.6g} {float(raw.max()):.6g}"), ("X-Compute-Ms", f"{ms:.0f}"))
    log.info("http: depth of an uploaded %dx%d %s as %s in %.0f ms", photo.width, photo.height, photo.format, fmt,
             ms)
    return Answer(200, data, DEPTH_FORMATS[fmt], info, body_read=True)


def _renice(step: int) -> None:
    """Lower this thread's priority by `step` (Linux nice is per thread); never fails the request."""
    if step <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError:
        log.debug("http: cannot renice the upload thread", exc_info=True)
