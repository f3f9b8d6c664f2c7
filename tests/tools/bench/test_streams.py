"""bench streams: the configs it runs are valid [[streams]] configs (paced, unpaced) and single-stream /stats reads
as one stream; the phases themselves are run by the coordinator (timing needs a quiet machine)."""
from __future__ import annotations

import pytest

from streamer.errors import StreamerError
from streamer.pipeline.options import load_config
from streamer.tools.bench.streams import _streams, bench_streams, config


def test_its_configs_load_as_the_streams_it_means(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0")  # checked to exist when the config loads; decoded only by a daemon
    path = tmp_path / "b.toml"
    path.write_text(config(str(clip), [30, 5, None]))
    streams = load_config(path)["streams"]
    assert streams.ids == ("s0", "s1", "s2")
    paced = [(s["source"].pace, s["source"].pace_fps, s["source"].loop) for s in streams.items]
    assert paced == [(True, 30, True), (True, 5, True), (False, paced[2][1], True)]


def test_a_single_stream_document_is_one_stream_and_unknown_phases_are_refused():
    assert _streams({"frames_out": 3}) == {"s0": {"frames_out": 3}}
    assert _streams({"streams": {"a": {}, "b": {}}}) == {"a": {}, "b": {}}
    with pytest.raises(StreamerError, match="unknown phase 'nope'"):
        bench_streams("x.mp4", None, 1.0, "fp32", ["nope"])
    with pytest.raises(StreamerError, match="rtsp phase needs --rtsp-server"):
        bench_streams("x.mp4", None, 1.0, "fp32", ["rtsp"])


def test_a_camera_url_is_a_stream_of_its_own(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0")
    path = tmp_path / "c.toml"
    path.write_text(config(str(clip), [15], ("rtsp://127.0.0.1:1/cam",)))
    streams = load_config(path)["streams"]
    assert streams.ids == ("s0", "c0") and streams.items[1]["source"].url == "rtsp://127.0.0.1:1/cam"
    assert streams.items[1]["source"].backoff[0] == 1.0  # the shipped backoff: the figure is what users get
