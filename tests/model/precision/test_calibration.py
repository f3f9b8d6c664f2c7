"""calibration.py: calibration and held-out frames disjoint, inputs fitted to any size, bad sources refused, live
frames collected over the first seconds."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.model.precision.calibration import FrameCollector, load_frame_set, network_inputs, split
from tests.conftest import VIDEO


def test_calibration_and_held_out_are_disjoint():
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(48)]
    fs = split(frames, 16)
    cal = {int(f[0, 0, 0]) for f in fs.calibration}
    held = {int(f[0, 0, 0]) for f in fs.held_out}
    assert len(fs.held_out) == 16 and len(fs.calibration) == 32 and not cal & held and len(cal | held) == 48
    assert max(held) - min(held) > 40  # interleaved through the source, not its tail
    real = load_frame_set(VIDEO / "realshort.mp4", 12, 6)
    assert len(real.calibration) == 12 and len(real.held_out) == 6
    cal_bytes = {f.tobytes() for f in real.calibration}
    assert not any(f.tobytes() in cal_bytes for f in real.held_out)
    assert real.digest() == load_frame_set(VIDEO / "realshort.mp4", 12, 6).digest()
    assert real.digest() != load_frame_set(VIDEO / "realshort.mp4", 10, 6).digest()


def test_network_inputs_fit_any_frame_to_the_size():
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    assert network_inputs([frame], 192, 256)[0].shape == (1, 3, 192, 256)  # the live path's own size
    assert network_inputs([frame], 160, 256)[0].shape == (1, 3, 160, 256)  # cropped to 16:10
    assert network_inputs([frame], 256, 128)[0].shape == (1, 3, 256, 128)


@pytest.mark.parametrize("kind", ["missing", "empty_dir", "not_video", "one_image"])
def test_bad_calibration_source_is_refused(tmp_path, kind):
    source = tmp_path / "src"
    if kind == "empty_dir":
        source.mkdir()
    elif kind == "not_video":
        source = tmp_path / "clip.mp4"
        source.write_bytes(b"this is not a video" * 100)
    elif kind == "one_image":
        source.mkdir()
        cv2.imwrite(str(source / "a.png"), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(StreamerError, match="calibration|frame"):
        load_frame_set(source, 8, 4)


def test_frame_collector_spreads_over_the_first_seconds():
    c = FrameCollector(5, 10.0)
    t = 0.0
    while not c.offer(np.full((2, 2, 3), int(t), np.uint8), 100.0 + t):
        t += 0.5
    assert [int(f[0, 0, 0]) for f in c.images()] == [0, 2, 4, 6, 8]


def test_kept_frames_are_shrunk_to_their_own_network_size():
    """Frames kept for minutes (int8 calibration for a later size, live re-checks) are stored at network size: the
    network then runs them at the size that serves, so no re-check ever builds a session or an int8 file of its own."""
    from streamer.model.precision.calibration import shrink
    from streamer.model.preprocess import network_size

    for h, w in ((480, 640), (360, 640), (1080, 1920), (479, 641), (600, 200)):
        frame = np.random.default_rng(h).integers(0, 255, (h, w, 3), np.uint8)
        small = shrink(frame, 256)
        assert small.dtype == np.uint8 and small.shape[2] == 3
        assert small.shape[:2] == network_size(w, h, 256)[::-1]
        assert network_size(small.shape[1], small.shape[0], 256) == network_size(w, h, 256)
    tiny = np.zeros((100, 120, 3), np.uint8)
    assert shrink(tiny, 256) is tiny  # never enlarged


def test_a_decided_frame_set_keeps_only_shrunk_calibration_frames():
    frames = split([np.full((480, 640, 3), i, np.uint8) for i in range(10)], 4)
    which = [int(f[0, 0, 0]) for f in frames.calibration]
    frames.keep_for_later(256)
    assert frames.held_out == [] and len(frames.calibration) == 6
    assert {f.shape for f in frames.calibration} == {(192, 256, 3)}
    assert [int(f[0, 0, 0]) for f in frames.calibration] == which  # the same frames, in order
