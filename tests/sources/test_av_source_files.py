"""AvSource on files: pixel formats, odd sizes, resolution changes, damage, pacing, looping and end of file."""
from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from source_helpers import drain, wait_for

from streamer.core.frame import CapturedFrame
from streamer.sources import AvSource, Source, SourceOptions, create_source


def fast(path: Path, **kwargs) -> AvSource:
    source = create_source(SourceOptions(url=str(path), pace=False, backoff=(0.1,), **kwargs))
    assert isinstance(source, AvSource)
    return source


def check_frames(frames: list[CapturedFrame], source: Source, shape: tuple[int, int]) -> None:
    assert frames, source.stats
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs))
    assert len(frames) + source.frames.dropped == source.stats.frames == seqs[-1] + 1  # every seq accounted for
    for f in frames:
        assert f.image.dtype == np.uint8 and f.image.shape == (*shape, 3) and f.image.flags.c_contiguous
        assert f.truth_depth is None
    monos = [f.capture_mono for f in frames]
    assert monos == sorted(monos) and abs(frames[-1].capture_wall - time.time()) < 60


@pytest.mark.parametrize("name, kwargs, decoded_fmt", [
    ("h264_420.mp4", {}, "yuv420p"),
    ("h264_444.mp4", {"pix_fmt": "yuv444p"}, "yuv444p"),
    ("h264_10bit.mkv", {"pix_fmt": "yuv420p10le"}, "yuv420p10le"),
    ("h264_odd.mp4", {"width": 321, "height": 243, "pix_fmt": "yuv444p"}, "yuv444p"),
    ("ffv1_odd_420.mkv", {"width": 321, "height": 243, "codec": "ffv1"}, "yuv420p"),
    ("ffv1_gray.mkv", {"codec": "ffv1", "pix_fmt": "gray"}, "gray"),
    ("mjpeg_full_range.avi", {"codec": "mjpeg", "pix_fmt": "yuvj422p"}, "yuvj422p"),
    ("mpeg4.mp4", {"codec": "mpeg4"}, "yuv420p"),
    ("raw_nv12.nut", {"codec": "rawvideo", "pix_fmt": "nv12"}, "nv12"),
    ("raw_bgr24.nut", {"codec": "rawvideo", "pix_fmt": "bgr24"}, "bgr24"),
])
def test_any_pixel_format_becomes_bgr(media: Callable[..., Path], running, name: str, kwargs: dict,
                                      decoded_fmt: str) -> None:
    path = media(name, frames=12, **kwargs)
    source = running(fast(path))
    frames = drain(source)
    width, height = kwargs.get("width", 160), kwargs.get("height", 120)
    check_frames(frames, source, (height, width))
    stats = source.stats
    assert (stats.state, stats.frames, stats.decode_errors) == ("ended", 12, 0)
    assert (stats.width, stats.height, stats.pix_fmt) == (width, height, decoded_fmt)
    corner = frames[-1].image[2: height // 4 - 2, 2: width // 4 - 2].reshape(-1, 3).mean(axis=0)
    if decoded_fmt == "gray":
        assert np.ptp(corner) < 2  # gray stays gray in all three channels
    else:  # the pattern's top-left block is pure red: BGR order puts it in channel 2
        assert corner[2] > 200 and corner[0] < 60 and corner[1] < 60, corner


def test_frames_are_copies_the_decoder_cannot_touch(media: Callable[..., Path], running) -> None:
    for name, kwargs in (("copy_h264.mp4", {}), ("copy_bgr.nut", {"codec": "rawvideo", "pix_fmt": "bgr24"})):
        source = running(create_source(SourceOptions(url=str(media(name, frames=12, **kwargs)))))  # paced
        first = source.frames.get(timeout=5.0)
        assert first is not None
        kept = first.image.copy()
        rest = drain(source)
        assert len(rest) >= 1
        assert np.array_equal(first.image, kept)  # later decoding did not overwrite it
        assert not any(np.shares_memory(first.image, f.image) for f in rest)


def test_real_footage_yuv444_720p_and_downscale(fixture_video, running) -> None:
    source = running(fast(fixture_video("cockatoo.mp4"), max_width=640))
    frame = source.frames.get(timeout=5.0)
    assert frame is not None and frame.image.shape == (360, 640, 3)
    assert frame.pts == pytest.approx(frame.seq / 20)  # the file's own clock: 20 fps from 0 s, in seconds
    assert wait_for(lambda: source.stats.frames >= 5, 5.0)
    stats = source.stats.snapshot()
    assert (stats.width, stats.height, stats.pix_fmt, stats.state) == (1280, 720, "yuv444p", "live")


def test_a_video_over_max_pixels_is_refused_from_its_header(fixture_video, running) -> None:
    # issue 26: decoded pictures are capped by [source] max_pixels, read from the stream before any frame decodes
    source = running(fast(fixture_video("cockatoo.mp4"), max_pixels=1280 * 720 - 1))
    assert wait_for(lambda: source.stats.state == "failed", 10.0), source.stats
    assert source.stats.frames == 0 and "1280x720 video is over [source] max_pixels = 921599" in source.stats.reason


@pytest.mark.parametrize("name, shape", [("cockatoo_640x480.mp4", (480, 640)), ("realshort.mp4", (240, 320))])
def test_real_footage_other_sizes(fixture_video, running, name: str, shape: tuple[int, int]) -> None:
    source = running(fast(fixture_video(name)))
    frame = source.frames.get(timeout=5.0)
    assert frame is not None and frame.image.shape == (*shape, 3) and frame.image.std() > 5


def test_resolution_change_mid_stream(media: Callable[..., Path], tmp_path: Path, running) -> None:
    small = media("res_small.ts", width=160, height=120, frames=15)
    large = media("res_large.ts", width=240, height=176, frames=15)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(small.read_bytes() + large.read_bytes())  # MPEG-TS may simply be concatenated
    source = running(create_source(SourceOptions(url=str(joined), pace=True)))  # pts jump back: pacing recovers
    frames = drain(source, timeout=5.0)
    shapes = [f.image.shape[:2] for f in frames]
    assert shapes[0] == (120, 160) and shapes[-1] == (176, 240)
    assert shapes == sorted(shapes)  # one switch, no flapping
    stats = source.stats
    assert (stats.state, stats.resolution_changes, stats.width, stats.height) == ("ended", 1, 240, 176)
    assert stats.frames >= 28 and stats.frames + stats.decode_errors == 30  # the seam may damage one frame
    second = [f.capture_mono for f in frames if f.image.shape[0] == 176]
    assert second[-1] - second[0] > 0.3  # still paced after the pts jumped back to the start


def test_garbage_in_the_middle_is_skipped_and_counted(media: Callable[..., Path], tmp_path: Path, running) -> None:
    rng = np.random.default_rng(7)
    for name, suffix in (("damage_src.ts", ".ts"), ("damage_src.mp4", ".mp4")):
        data = bytearray(media(name, frames=90, gop=10).read_bytes())
        for at in (len(data) // 3, len(data) // 2):
            data[at: at + 1500] = rng.integers(0, 256, 1500, dtype=np.uint8).tobytes()
        damaged = tmp_path / f"damaged{suffix}"
        damaged.write_bytes(bytes(data))
        source = running(fast(damaged))
        frames = drain(source)
        stats = source.stats
        assert stats.state == "ended", stats
        assert stats.decode_errors >= 1, name
        assert 45 <= stats.frames < 90, name  # lost some, kept going to the end
        check_frames(frames, source, (120, 160))


def test_truncated_file_ends_cleanly(media: Callable[..., Path], tmp_path: Path, running) -> None:
    data = media("trunc_src.ts", frames=60).read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) * 6 // 10 + 77])  # mid-packet
    source = running(fast(cut))
    frames = drain(source)
    assert source.stats.state == "ended" and 20 <= source.stats.frames < 60
    check_frames(frames, source, (120, 160))


@pytest.mark.serial  # compares two rates measured one after the other
def test_paced_file_runs_at_its_frame_rate_and_unpaced_much_faster(fixture_video, running) -> None:
    path = fixture_video("cockatoo.mp4")  # 20 fps, 14 s
    paced = running(create_source(SourceOptions(url=str(path))))
    unpaced = running(fast(path))
    time.sleep(1.5)
    n_paced, n_unpaced = paced.stats.frames, unpaced.stats.frames
    assert 20 <= n_paced <= 40, n_paced  # ~31 at 20 fps; loose, the CPU is shared
    assert n_unpaced >= 3 * n_paced, (n_unpaced, n_paced)
    frames = [f for f in (paced.frames.get(timeout=1.0) for _ in range(5)) if f is not None]
    assert [b.seq - a.seq for a, b in pairwise(frames)] == [1] * (len(frames) - 1)
    gaps = [b.capture_mono - a.capture_mono for a, b in pairwise(frames)]
    assert 0.025 < float(np.median(gaps)) < 0.09  # 50 ms apart, loosely


def test_pace_fps_stands_in_for_a_faster_camera(fixture_video, running) -> None:
    path = fixture_video("cockatoo_640x480.mp4")  # 20 fps natively
    fast_camera = running(create_source(SourceOptions(url=str(path), pace_fps=40.0)))
    native = running(create_source(SourceOptions(url=str(path))))
    time.sleep(1.5)
    n_fast, n_native = fast_camera.stats.frames, native.stats.frames
    assert 45 <= n_fast <= 75, n_fast  # ~61 at 40 fps; loose, the CPU is shared
    assert n_fast >= 1.5 * n_native, (n_fast, n_native)


def test_loop_starts_over(media: Callable[..., Path], running) -> None:
    source = running(fast(media("loop.mp4", frames=10), loop=True))
    assert wait_for(lambda: source.stats.frames >= 35, 10.0)
    stats = source.stats
    assert stats.state == "live" and stats.reconnects == 0 and source.running


def test_on_eof_stop_ends_the_thread_and_closes_the_slot(media: Callable[..., Path], running) -> None:
    source = running(fast(media("eof.mp4", frames=8), on_eof="stop"))
    frames = drain(source)
    assert wait_for(lambda: not source.running, 2.0)
    assert source.frames.closed and source.stats.state == "ended" and "end of file" in source.stats.reason
    assert frames[-1].seq == 7


def test_on_eof_idle_keeps_the_thread_until_stopped(media: Callable[..., Path]) -> None:
    source = fast(media("eof.mp4", frames=8), on_eof="idle")
    source.start()
    assert wait_for(lambda: source.stats.state == "ended", 5.0)
    time.sleep(0.2)
    assert source.running and not source.frames.closed
    started = time.monotonic()
    assert source.stop(timeout=2.0)
    assert time.monotonic() - started < 2.0 and source.frames.closed


def test_stop_is_prompt_while_paced_live(fixture_video) -> None:
    source = create_source(SourceOptions(url=str(fixture_video("cockatoo.mp4"))))
    source.start()
    assert wait_for(lambda: source.stats.state == "live", 5.0)
    started = time.monotonic()
    assert source.stop(timeout=2.0)
    assert time.monotonic() - started < 2.0 and not source.running


def test_given_slot_is_used_and_left_open(media: Callable[..., Path]) -> None:
    from streamer.core.handoff import LatestSlot

    slot: LatestSlot[CapturedFrame] = LatestSlot()
    source = create_source(SourceOptions(url=str(media("eof.mp4", frames=8)), pace=False), slot=slot)
    source.start()
    assert slot.get(timeout=5.0) is not None
    assert source.stop(timeout=2.0) and not slot.closed  # the owner of the slot closes it
