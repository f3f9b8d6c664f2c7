"""SourceOptions, url routing and the small pure helpers of the sources package."""
from __future__ import annotations

import dataclasses

import pytest

from streamer.config.options import describe
from streamer.core.redact import redact
from streamer.sources import AvSource, DemoSource, SourceOptions, create_source, source_kind
from streamer.sources.av_source import fit_within, input_args, server_address
from streamer.sources.base import backoff_delay
from streamer.sources.options import webcam_device


@pytest.mark.parametrize("url, kind", [
    ("demo", "demo"), ("DEMO", "demo"),
    ("/dev/video0", "webcam"), ("v4l2:/dev/video2", "webcam"), ("v4l2:1", "webcam"),
    ("rtsp://cam.local/stream1", "network"), ("rtsps://cam/s", "network"),
    ("http://127.0.0.1:8080/x.ts", "network"), ("HTTPS://example.com/live.m3u8", "network"),
    ("clip.mp4", "file"), ("/data/videos/demo.mp4", "file"), ("/dev/null", "file"),
])
def test_url_picks_the_kind(url: str, kind: str) -> None:
    assert source_kind(url) == kind


def test_create_source_builds_the_right_class_without_starting_it() -> None:
    demo = create_source(SourceOptions())
    cam = create_source(SourceOptions(url="v4l2:3"))
    net = create_source(SourceOptions(url="rtsp://user:secret@cam/s"))
    assert isinstance(demo, DemoSource) and not demo.running
    assert isinstance(cam, AvSource) and cam.kind == "webcam" and cam.target == "/dev/video3"
    assert isinstance(net, AvSource) and net.kind == "network"
    assert "secret" not in net.label
    assert demo.stats.state == "starting"
    assert demo.stop(timeout=0.1)  # stopping a source that never started is fine


def test_every_option_declares_default_help_and_unit_where_it_has_one() -> None:
    rows = describe(SourceOptions)
    names = [name for name, _, _ in rows]
    assert names[0] == "url" and {"backoff", "stall_timeout", "on_eof", "rtsp_transport", "demo_seed"} <= set(names)
    for name, default, meta in rows:
        assert meta["help"], name
        if isinstance(default, float):
            assert meta["unit"] == ("1/s" if name.endswith("fps") else "s"), name
    defaults = SourceOptions()
    assert defaults.url == "demo" and defaults.rtsp_transport == "tcp" and defaults.pace is True
    assert defaults.backoff == (1.0, 2.0, 5.0, 10.0, 30.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.url = "x"  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, key", [
    ({"backoff": ()}, "backoff"), ({"backoff": (1.0, -2.0)}, "backoff"), ({"on_eof": "quit"}, "on_eof"),
    ({"rtsp_transport": "sctp"}, "rtsp_transport"), ({"width": 640, "height": 0}, "width"),
])
def test_bad_options_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        SourceOptions(**kwargs)


def test_backoff_list_from_config_becomes_a_tuple() -> None:
    assert SourceOptions(backoff=[0.5, 1]).backoff == (0.5, 1.0)  # type: ignore[arg-type]


def test_backoff_steps_then_repeats_the_last() -> None:
    schedule = (1.0, 2.0, 5.0, 10.0, 30.0)
    assert [backoff_delay(schedule, n) for n in range(7)] == [1, 2, 5, 10, 30, 30, 30]


def test_webcam_input_options() -> None:
    opts = SourceOptions(url="/dev/video0", pixel_format="mjpeg", width=1280, height=720, fps=30)
    assert input_args("webcam", "/dev/video0", opts) == (
        "v4l2", {"input_format": "mjpeg", "video_size": "1280x720", "framerate": "30"})
    assert input_args("webcam", "/dev/video0", SourceOptions(width=0, height=0, fps=0)) == ("v4l2", {})


def test_rtsp_transport_and_extra_options() -> None:
    opts = SourceOptions(url="rtsp://cam/s", rtsp_transport="udp", av_options={"probesize": 32768})
    assert input_args("network", "rtsp://cam/s", opts) == (None, {"rtsp_transport": "udp", "probesize": "32768"})
    assert input_args("network", "http://cam/s.ts", SourceOptions()) == (None, {})


def test_fit_within_keeps_aspect_and_never_upscales() -> None:
    assert fit_within(1280, 720, 0, 0) == (1280, 720)
    assert fit_within(1280, 720, 640, 0) == (640, 360)
    assert fit_within(1280, 720, 640, 240) == (427, 240)
    assert fit_within(320, 240, 640, 480) == (320, 240)


def test_small_helpers() -> None:
    assert webcam_device("v4l2:/dev/video4") == "/dev/video4"
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://***@10.0.0.5:554/s"
    assert redact("/videos/a.mp4") == "/videos/a.mp4"


@pytest.mark.parametrize(("url", "address"), [
    ("rtsp://user:secret@10.0.0.5/stream1", ("10.0.0.5", 554)),
    ("rtsp://cam.local:8554/live", ("cam.local", 8554)),
    ("rtsps://cam/live", ("cam", 322)),
    ("http://[::1]:8080/video.mjpg", ("::1", 8080)),
    ("https://cam/video", ("cam", 443)),
    ("rtsp://cam:99999/live", None),  # out of range: the open itself says so, nothing is probed
    ("rtsp:///live", None),
])
def test_the_reconnect_probe_knows_each_network_servers_address(url, address) -> None:
    assert server_address(url) == address
