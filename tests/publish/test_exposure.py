"""What the publishers themselves show: URL credentials redacted on their own channels (ZeroMQ headers and status,
HTTP /stats, /healthz and the no-signal frame), and a warning naming what is exposed when a listener binds beyond
loopback without authentication."""
from __future__ import annotations

import json
import logging
import time

import cv2
import numpy as np
import pytest
import zmq

from streamer.publish.exposure import is_loopback
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.imagezmq_publisher import ImageZmqPublisher, ImageZmqPublisherOptions
from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions
from streamer.render.no_signal import render_no_signal
from tests.publish.conftest import CallableStatus
from tests.publish.conftest import http_request as get

SECRET_URL = "rtsp://admin:pa@ss@cam.local/s?token=tok456"
SHOWN = "rtsp://***@cam.local/s?token=***"


def test_zmq_frame_headers_and_status_are_redacted(renderer, frames):
    reason = f"source offline: cannot open {SECRET_URL}"
    pub = ZmqPublisher(ZmqPublisherOptions(port=0, camera_id="cam?token=tok456", status_interval_s=0.05),
                       renderer=renderer)
    pub.start(CallableStatus(stats=lambda: {"url": SECRET_URL}, no_signal=lambda: reason))
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for topic in (b"depth", b"status"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(pub.endpoint)
    got: dict[bytes, list[bytes]] = {}
    try:
        deadline = time.monotonic() + 5
        seq = 0
        while len(got) < 2:
            assert time.monotonic() < deadline, set(got)
            pub.publish(frames(seq))
            seq += 1
            if sub.poll(50):
                parts = sub.recv_multipart()
                got[parts[0]] = parts
    finally:
        sub.close()
        ctx.term()
        pub.stop(2.0)
    depth_header = json.loads(got[b"depth"][1])
    status_header, status = json.loads(got[b"status"][1]), json.loads(got[b"status"][2])
    assert depth_header["camera"] == status_header["camera"] == "cam?token=***"
    assert status["reason"] == f"source offline: cannot open {SHOWN}" and status["stats"]["url"] == SHOWN
    assert b"tok456" not in b"".join(got[b"depth"][:2] + got[b"status"]) and b"pa@ss" not in got[b"status"][2]


def test_http_stats_healthz_and_no_signal_frame_are_redacted(renderer):
    reason = f"source offline: cannot open {SECRET_URL}"
    srv = HttpPublisher(HttpOptions(port=0), renderer=renderer)
    srv.start(CallableStatus(stats=lambda: {"source": {"url": SECRET_URL}}, no_signal=lambda: reason))
    try:
        status, _, body = get(srv, "/stats")
        assert json.loads(body)["source"]["url"] == SHOWN
        status, _, body = get(srv, "/healthz")
        assert status == 503 and body.decode().strip() == f"source offline: cannot open {SHOWN}"
        for _ in range(3):  # the frame shows the wall-clock second: retry if one ticked over meanwhile
            when = int(time.time())
            status, headers, body = get(srv, "/snapshot.jpg")
            if int(time.time()) == when:
                break
        assert status == 503 and headers["x-no-signal"] == f"source offline: cannot open {SHOWN}"
        shown = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.int16)
        drawn = {text: render_no_signal(text, when) for text in (f"source offline: cannot open {SHOWN}", reason)}
        diff = {text: np.abs(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.int16) - shown).mean()
                for text, img in drawn.items()}
        assert diff[f"source offline: cannot open {SHOWN}"] < 1.0 < diff[reason], diff  # the redacted text is drawn
    finally:
        srv.stop(2.0)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not any(is_loopback(h) for h in ("0.0.0.0", "*", "", "::", "192.0.2.1", "no-such-host.invalid"))


def start_and_stop(publisher) -> None:
    publisher.start()
    assert publisher.stop(2.0)


@pytest.mark.parametrize("make, exposed", [
    (lambda r: HttpPublisher(HttpOptions(host="0.0.0.0", port=0), renderer=r), ["/stream.mjpg", "/metrics"]),
    (lambda r: ZmqPublisher(ZmqPublisherOptions(host="0.0.0.0", port=0), renderer=r), ["depth array", "status"]),
    (lambda r: ImageZmqPublisher(ImageZmqPublisherOptions(host="0.0.0.0", port=0), renderer=r), ["camera view"]),
])
def test_exposed_listener_warns_saying_what_is_exposed(renderer, caplog, make, exposed):
    with caplog.at_level(logging.WARNING):
        start_and_stop(make(renderer))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "WITHOUT authentication" in warnings[0], warnings
    for words in exposed:
        assert words in warnings[0], warnings[0]


@pytest.mark.parametrize("make", [
    lambda r: HttpPublisher(HttpOptions(host="0.0.0.0", port=0, auth_token="t"), renderer=r),
    lambda r: HttpPublisher(HttpOptions(port=0), renderer=r),
    lambda r: ZmqPublisher(ZmqPublisherOptions(port=0), renderer=r),
])
def test_loopback_or_authenticated_listener_does_not_warn(renderer, caplog, make):
    with caplog.at_level(logging.WARNING):
        start_and_stop(make(renderer))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
