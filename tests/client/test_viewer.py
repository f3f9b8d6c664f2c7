"""The viewer's stream readers against real publishers (no display needed), and its no-display error."""
from __future__ import annotations

import sys
import time

import pytest

from streamer.client.viewer import MjpegFrameReader, ViewerError, open_reader, run_viewer
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher
from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions


def read_one(reader, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image = reader.read(0.2)
        if image is not None:
            return image
    raise AssertionError("no image read")


@pytest.fixture
def mjpeg(renderer):
    srv = HttpPublisher(HttpOptions(port=0, auth_user="ana", auth_password="pw"), renderer=renderer)
    srv.start()
    yield srv
    srv.stop(2.0)


@pytest.mark.parametrize("topic, shape", [("color", (48, 64, 3)), ("depth", (24, 32, 3))])
def test_zmq_reader(renderer, feeder, topic, shape):
    pub = ZmqPublisher(ZmqPublisherOptions(port=0), renderer=renderer)
    pub.start()
    reader = open_reader(pub.endpoint, topic=topic)
    reader.open()
    try:
        with feeder(pub.publish, fps=50):
            assert read_one(reader).shape == shape
    finally:
        reader.close()
        pub.stop(2.0)


def test_mjpeg_reader_views_auth_and_errors(mjpeg, feeder):
    host, port = mjpeg.address
    with feeder(mjpeg.publish, fps=50):
        reader = open_reader(f"http://ana:pw@{host}:{port}/", view="side_by_side")
        reader.open()
        assert read_one(reader).shape == (48, 128, 3)
        reader.close()
        with pytest.raises(ViewerError, match="401"):
            MjpegFrameReader(f"http://{host}:{port}/stream.mjpg").open()
        with pytest.raises(ViewerError, match="not an MJPEG stream"):
            MjpegFrameReader(f"http://ana:pw@{host}:{port}/stats").open()


def test_mjpeg_reader_survives_server_going_away(mjpeg, feeder):
    host, port = mjpeg.address
    reader = MjpegFrameReader(f"http://ana:pw@{host}:{port}/stream.mjpg")
    with feeder(mjpeg.publish, fps=50):
        read_one(reader)
    mjpeg.stop(2.0)
    t = time.monotonic()
    assert all(reader.read(0.1) is None for _ in range(3))  # no exception: it will reconnect later
    assert time.monotonic() - t < 2.0
    with pytest.raises(ViewerError, match="cannot reach"):
        reader.open()


def test_bad_sources():
    for source in ("rtsp://cam/stream", "/dev/video0", "http://"):
        with pytest.raises(ViewerError):
            open_reader(source)
    with pytest.raises(ViewerError, match="view"):
        open_reader("tcp://127.0.0.1:5555", view="overlay")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display detection is by environment on Linux")
def test_no_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ViewerError, match="no display"):
        run_viewer("tcp://127.0.0.1:5555")


def test_mjpeg_reader_keeps_up_with_the_stream(mjpeg, feeder):
    # The window polls read() every few ms. A reader that set a short socket timeout per read closed the stream on
    # every lull and reconnected at most once a second: ~1.5 fps from a 20 fps stream.
    host, port = mjpeg.address
    reader = MjpegFrameReader(f"http://ana:pw@{host}:{port}/stream.mjpg")
    with feeder(mjpeg.publish, fps=20):
        read_one(reader)
        got, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 3.0:
            got += reader.read(0.03) is not None
    reader.close()
    assert got >= 30, f"{got} frames in 3 s from a 20 fps stream"  # ~60 expected; the old reader got ~4
