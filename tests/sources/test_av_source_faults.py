"""AvSource when things go wrong: missing inputs, URLs that are no streams, silent servers, EOF and stalls on a
live stream. Every live case must end up `offline` with a readable reason, retry with backoff, and stop promptly; a
file that never decodes fails once instead."""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from source_helpers import closed_port, read_request, wait_for

from streamer.sources import Source, SourceOptions, create_source

HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n"
VIDEO_PID = 0x100  # where PyAV's MPEG-TS muxer puts the first stream


def offline_source(url: str, **kwargs) -> Source:
    kwargs.setdefault("backoff", (0.1, 0.2))
    return create_source(SourceOptions(url=url, **kwargs))


def assert_stops_promptly(source: Source, limit: float = 2.0) -> None:
    started = time.monotonic()
    assert source.stop(timeout=limit), f"{source.kind} source still running after {limit} s"
    assert time.monotonic() - started < limit
    assert not source.running and source.frames.closed


def assert_offline_and_retrying(source: Source, *reason_parts: str, attempts: int = 2) -> None:
    assert wait_for(lambda: source.stats.reconnects >= attempts, 5.0), source.stats
    stats = source.stats.snapshot()
    assert stats.state == "offline" and stats.frames == 0, stats
    for part in reason_parts:
        assert part in stats.reason, stats.reason
    assert "retry in" in stats.reason


@pytest.mark.parametrize("url, reason", [
    ("/dev/video99", "No such file or directory"),
    ("v4l2:99", "No such file or directory"),
])
def test_missing_webcams_go_offline_with_a_reason_and_retry(url: str, reason: str) -> None:
    # A webcam may be plugged in later: retrying is right.
    source = offline_source(url)
    source.start()
    assert_offline_and_retrying(source, "cannot open", reason, url.replace("v4l2:", "/dev/video"))
    assert_stops_promptly(source)


def test_closed_port_is_refused() -> None:
    source = offline_source(f"http://127.0.0.1:{closed_port()}/x")
    source.start()
    assert_offline_and_retrying(source, "Connection refused")
    assert_stops_promptly(source)


def assert_failed_for_good(source: Source, *reason_parts: str) -> None:
    """A file that never gave a frame fails once, with its reason, and its capture thread ends: no retry loop."""
    assert wait_for(lambda: not source.running, 5.0), source.stats
    stats = source.stats.snapshot()
    assert stats.state == "failed" and stats.frames == 0 and stats.reconnects == 0, stats
    for part in reason_parts:
        assert part in stats.reason, stats.reason
    assert "retry" not in stats.reason


def test_a_missing_file_fails_once() -> None:
    source = offline_source("/nonexistent/clip.mp4")
    source.start()
    assert_failed_for_good(source, "cannot open", "No such file or directory", "/nonexistent/clip.mp4")
    assert_stops_promptly(source)


def test_garbage_file_is_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 100)
    source = offline_source(str(junk))
    source.start()
    assert_failed_for_good(source, "cannot open", "Invalid data")
    assert_stops_promptly(source)


def test_empty_file_and_file_without_moov_fail_once(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    clip = (Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "video" / "realshort.mp4").read_bytes()
    no_moov = tmp_path / "no_moov.mp4"
    no_moov.write_bytes(clip[: clip.find(b"moov") - 4])  # the index atom sits at the end of this file: cut it off
    for path in (empty, no_moov):
        source = offline_source(str(path))
        source.start()
        assert_failed_for_good(source, str(path))
        assert_stops_promptly(source)


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_server_sending_garbage(tcp_server, scheme: str) -> None:
    def garbage(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"\x00\xffnot a stream\r\n" * 4000)

    server = tcp_server(garbage)
    source = offline_source(f"{scheme}://127.0.0.1:{server.port}/stream", open_timeout=2.0)
    source.start()
    assert_offline_and_retrying(source, "cannot open")
    assert server.connections >= 2
    assert_stops_promptly(source)


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_silent_server_times_out_and_stop_is_prompt_while_opening(tcp_server, scheme: str) -> None:
    quiet = threading.Event()

    def silent(conn: socket.socket) -> None:
        quiet.wait(10.0)  # accept, then say nothing

    server = tcp_server(silent)
    source = offline_source(f"{scheme}://127.0.0.1:{server.port}/s", open_timeout=0.5, backoff=(0.1,))
    source.start()
    assert_offline_and_retrying(source, "timed out after 0.5 s", attempts=1)
    assert wait_for(lambda: server.connections >= 3, 5.0)  # blocked inside av.open right now, most likely
    assert_stops_promptly(source)  # bounded by open_timeout
    quiet.set()


def test_backoff_grows_and_stop_cuts_the_wait_short() -> None:
    source = offline_source("/dev/video99", backoff=(0.1, 0.3, 30.0))  # a camera not plugged in: always retried
    source.start()
    time.sleep(1.0)  # fail, 0.1 s, fail, 0.3 s, fail, then a 30 s wait
    stats = source.stats.snapshot()
    assert stats.reconnects == 2 and stats.state == "offline" and "retry in 30 s" in stats.reason
    assert time.monotonic() - stats.state_since > 0.3
    assert_stops_promptly(source, limit=0.5)


def serve_ts(data: bytes, fast_bytes: int | None = None, trickle: float = 0.0) -> Callable[[socket.socket], None]:
    """An HTTP handler sending an MPEG-TS body, the part after `fast_bytes` in 752-byte steps `trickle` s apart."""
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(HTTP_OK)
        head = len(data) if fast_bytes is None else fast_bytes
        conn.sendall(data[:head])
        for at in range(head, len(data), 752):
            time.sleep(trickle)
            conn.sendall(data[at: at + 752])

    return handler


def test_live_stream_that_ends_is_reconnected(media, tcp_server, running, caplog) -> None:
    caplog.set_level(logging.INFO, logger="streamer.sources")
    server = tcp_server(serve_ts(media("live.ts", frames=20).read_bytes()))
    source = running(offline_source(f"http://127.0.0.1:{server.port}/live.ts"))
    assert wait_for(lambda: source.stats.frames >= 50, 10.0), source.stats
    stats = source.stats.snapshot()
    assert stats.reconnects >= 2 and server.connections >= 3
    # FFmpeg's http reader reports the closed connection as EOF or as an I/O error, depending on the framing
    offline = [r.getMessage() for r in caplog.records if "offline" in r.getMessage()]
    assert len(offline) >= 2 and all("stream ended" in m or "read failed" in m for m in offline), offline
    frame = source.frames.get(timeout=2.0)
    assert frame is not None and frame.image.shape == (120, 160, 3)


def last_packet_end(data: bytes, pid: int) -> int:
    """Byte offset just past the last 188-byte TS packet carrying `pid`."""
    end = 0
    for at in range(0, len(data) - 187, 188):
        if ((data[at + 1] & 0x1F) << 8 | data[at + 2]) == pid:
            end = at + 188
    return end


def test_stall_watchdog_when_only_audio_keeps_coming(media, tcp_server, running, caplog) -> None:
    caplog.set_level(logging.INFO, logger="streamer.sources")
    data = media("av_short_video.ts", frames=30, audio_s=5.0).read_bytes()  # 30 frames: probing ends early
    video_end = last_packet_end(data, VIDEO_PID)
    assert 0 < video_end < len(data) - 5000
    server = tcp_server(serve_ts(data, fast_bytes=video_end, trickle=0.05))
    source = running(offline_source(f"http://127.0.0.1:{server.port}/a.ts", stall_timeout=1.0, read_timeout=3.0,
                                    backoff=(0.2,)))
    assert wait_for(lambda: source.stats.frames >= 20, 5.0), source.stats
    assert wait_for(lambda: source.stats.reconnects >= 1, 5.0), source.stats
    assert any("no frame for 1 s" in r.getMessage() for r in caplog.records)
    assert wait_for(lambda: source.stats.frames >= 40, 5.0)  # and it came back after reconnecting
