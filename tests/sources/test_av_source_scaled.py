"""AvSource's pictures while decoder-scaled preprocessing serves: the network-size RGB made by the decoder at capture,
the full-size BGR only when someone asks (then exactly today's conversion); odd sizes, aspect ratios, a resolution
change mid-stream; and sources that cannot scale keep working."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from source_helpers import drain

from streamer.model import DepthModel
from streamer.model.preprocess import DECODER_SCALED, Preprocessor
from streamer.model.weights import WeightsFile
from streamer.sources import AvSource, DemoSource, SourceOptions, create_source
from streamer.sources.av_source import to_bgr
from tests.model.precision.fakes import Fake


def model(serving: str) -> DepthModel:
    """A model whose network is a fixed linear map of its input (its output has the input's size)."""
    m = DepthModel(Fake(), WeightsFile(path=Path("fake.pt"), sha256="0" * 64))
    m.precision_switch().update(preprocess=serving)
    return m


def board(m: DepthModel) -> SimpleNamespace:
    """The one thing a source asks the pipeline's StatusBoard, answered as the board does: by the model."""
    return SimpleNamespace(scaled_input=m.scaled_input)


def run(source, status) -> list:
    source.start(status)
    try:
        return drain(source, timeout=20.0)
    finally:
        assert source.stop(timeout=6.0)


def test_decoder_scaled_frames_carry_the_network_input_and_convert_bgr_only_when_asked(fixture_video):
    video = fixture_video("realshort.mp4")
    m = model(DECODER_SCALED)
    frames = run(create_source(SourceOptions(url=str(video), pace=False), lossless=True), board(m))
    with av.open(str(video)) as container:  # today's eager conversion of the same frames, for comparison
        expected = [to_bgr(f) for f in container.decode(video=0)]
    assert len(frames) == len(expected) > 10
    exact = Preprocessor(256)
    for frame, bgr in zip(frames, expected, strict=True):
        assert frame.picture.can_scale and not frame.picture.converted  # nobody asked for the BGR yet
        raw = m.predict_frame(frame)  # the worker's path
        assert not frame.picture.converted  # ... and the network did not need it
        assert raw.shape == exact(bgr).shape[2:]  # the network input has the exact path's size
        assert m.precision.preprocess == DECODER_SCALED
        np.testing.assert_array_equal(frame.image, bgr)  # a consumer asks: the very conversion made eagerly before
        assert frame.picture.converted and frame.image is frame.image  # kept


def test_while_exact_serves_every_frame_is_converted_at_capture(fixture_video):
    m = model("exact")
    frames = run(create_source(SourceOptions(url=str(fixture_video("realshort.mp4")), pace=False), lossless=True),
                 board(m))
    assert frames and all(f.picture.converted for f in frames)  # on the capture thread, off the network's
    assert m.scaled_input(640, 480) is None


@pytest.mark.parametrize("width,height,max_width", [(320, 240, 301), (480, 64, 0), (96, 400, 0), (200, 200, 77)])
def test_odd_sizes_and_aspect_ratios_get_the_exact_paths_network_size(media: Callable[..., Path], width, height,
                                                                      max_width):
    video = media(f"aspect_{width}x{height}.mp4", width=width, height=height, frames=3)
    m = model(DECODER_SCALED)
    frames = run(create_source(SourceOptions(url=str(video), pace=False, max_width=max_width), lossless=True),
                 board(m))
    assert frames
    for frame in frames:
        h, w = frame.shape
        net_w, net_h = m.preprocess.size_for(w, h)
        assert net_w % 32 == 0 and net_h % 32 == 0
        rgb = frame.picture.scaled_rgb(net_w, net_h)
        assert rgb.shape == (net_h, net_w, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
        assert m.predict_frame(frame).shape == (net_h, net_w) == Preprocessor(256)(frame.image).shape[2:]
        assert frame.image.shape == (h, w, 3)  # the BGR is fitted to max_width, like the picture's size


def test_a_resolution_change_mid_stream_is_followed(media: Callable[..., Path], tmp_path: Path):
    wide = media("scaled_320x240.ts", width=320, height=240, frames=10)
    strip = media("scaled_320x96.ts", width=320, height=96, frames=10)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(wide.read_bytes() + strip.read_bytes())  # MPEG-TS may simply be concatenated
    m = model(DECODER_SCALED)
    source = create_source(SourceOptions(url=str(joined), pace=False), lossless=True)
    assert isinstance(source, AvSource)
    frames = run(source, board(m))
    shapes = [m.predict_frame(f).shape for f in frames]
    assert shapes[0] == (192, 256) and shapes[-1] == (64, 256) and shapes == sorted(shapes, reverse=True)
    assert source.stats.resolution_changes == 1 and not any(f.picture.converted for f in frames)


def test_a_source_that_cannot_scale_keeps_working():
    m = model(DECODER_SCALED)
    source = DemoSource(SourceOptions(url="demo", width=160, height=120, pace=False))
    source.start(board(m))  # asked for scaled input: it has only its BGR, and says so by its pictures
    try:
        frames = [source.frames.get(timeout=5.0) for _ in range(3)]
    finally:
        assert source.stop(timeout=6.0)
    for frame in frames:
        assert frame is not None and not frame.picture.can_scale and frame.picture.scaled_rgb(256, 192) is None
        np.testing.assert_array_equal(m.predict_frame(frame), m.predict(frame.image))  # the exact path
