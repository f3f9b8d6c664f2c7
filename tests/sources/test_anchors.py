"""AnchorReceiver with a real PUB sender: newest valid set wins, malformed messages are refused by name."""
from __future__ import annotations

import json
import time

import pytest
import zmq

from streamer.errors import ListenError
from streamer.publish.wire import anchors_message
from streamer.sources.anchors import AnchorReceiver, parse


def wait(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_receiver_keeps_the_newest_and_refuses_bad_messages():
    rx = AnchorReceiver("tcp://127.0.0.1:0")
    rx.start()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(rx.endpoint)
    try:
        def send_until(msg, check):
            deadline = time.monotonic() + 5
            while not check():
                assert time.monotonic() < deadline
                pub.send_multipart(msg)
                time.sleep(0.05)
        send_until(anchors_message([[1, 2, 3.0]], capture_wall=10.0, sender="a"), lambda: rx.latest() is not None)
        assert rx.latest().points.tolist() == [[1.0, 2.0, 3.0]] and rx.latest().sender == "a"
        bad = [b"anchors", json.dumps({"v": 1, "encoding": "json", "capture_wall": 1.0, "sender": "b"}).encode(),
               b'[[1, 2]]']
        send_until(bad, lambda: rx.refused > 0)
        assert rx.last_error == "anchors from 'b': anchor 0: expected [u, v, metres] (three numbers), got [1, 2]"
        assert rx.latest().sender == "a"  # the bad one never replaced the good one
        newer = anchors_message([[5, 6, 7.0], [1, 1, 1.0]], capture_wall=11.0)
        send_until(newer, lambda: rx.latest().capture_wall == 11)
        assert rx.snapshot()["received"] >= 2
    finally:
        pub.close(0)
        ctx.term()
        rx.stop()


@pytest.mark.parametrize("header, message", [
    ({"encoding": "json"}, "capture_wall (time.time() of the measurement) missing"),
    ({"encoding": "json", "capture_wall": 1.0, "width": 640}, "whole numbers from 0 to 65535, both or"),
    ({"encoding": "json", "capture_wall": float("nan")}, "capture_wall"),
])
def test_parse_header_problems(header, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse([b"anchors", json.dumps({"v": 1, **header}).encode(), b"[[1, 2, 3]]"])


def test_bind_failure_names_the_key():
    first = AnchorReceiver("tcp://127.0.0.1:0")
    first.start()
    try:
        with pytest.raises(ListenError, match=r"\[metric\] anchors_endpoint"):
            AnchorReceiver(first.endpoint).start()
    finally:
        first.stop()
