"""Files as sources: unpaced files are lossless (every frame through the network once, in order); a file does not
play out while the network warms up; a file that can never be decoded is one clear error, not a retry loop."""
from __future__ import annotations

import json
import re
import time

import zmq

from .harness import REALSHORT, START_TIMEOUT_S, DaemonProcess

REALSHORT_FRAMES = 36


def collect_depth_seqs(daemon: DaemonProcess, until: float) -> list[int]:
    """Every depth seq a real subscriber receives until `until` (monotonic) or 3 s of silence after the first."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 10_000)
    sub.setsockopt(zmq.SUBSCRIBE, b"depth")
    sub.connect(daemon.zmq_endpoint)
    seqs: list[int] = []
    try:
        while time.monotonic() < until:
            if sub.poll(3000 if seqs else 200):
                seqs.append(json.loads(sub.recv_multipart()[1])["seq"])
            elif seqs:
                break
    finally:
        sub.close()
        ctx.term()
    return seqs


def test_unpaced_file_is_lossless_in_order(spawn):
    # Slow publishing down is not needed: the decoder waits for the network (back-pressure), so nothing is dropped.
    daemon = spawn("--set", "source.pace=false", "--set", 'source.on_eof="idle"', source=REALSHORT)
    seqs = collect_depth_seqs(daemon, time.monotonic() + START_TIMEOUT_S)
    stats = daemon.wait_for(lambda: (s := daemon.stats_or_none()) and s["frames_out"] >= REALSHORT_FRAMES and s,
                            30.0, "every frame through the network")
    assert stats["frames_out"] == REALSHORT_FRAMES and stats["source"]["frames"] == REALSHORT_FRAMES, stats
    assert stats["dropped"] == 0, stats
    # Whatever the subscriber saw (it may connect after the first frames), it saw in order with no gap, to the end.
    assert seqs and seqs == list(range(seqs[0], REALSHORT_FRAMES)), seqs


def test_a_short_paced_file_waits_for_a_cold_network(tmp_path):
    # A fresh cache: the first run exports the network (seconds), longer than this 1.2 s clip plays. Before the fix
    # the warm-up took frame 0 and the file played on meanwhile: one depth frame (the last) was published.
    daemon = DaemonProcess("--set", 'source.on_eof="stop"', cache=tmp_path / "cold", source=REALSHORT).start()
    try:
        seqs = collect_depth_seqs(daemon, time.monotonic() + START_TIMEOUT_S)
        rc = daemon.wait_exit(30.0)
        assert rc == 0, daemon.log
        assert "exporting the network to ONNX" in daemon.log  # the cache was cold indeed
        published = int(re.search(r"after (\d+) depth frames", daemon.log).group(1))  # type: ignore[union-attr]
        # The file starts when the network is warm: from its first frame, played through (some frames may lose
        # newest-wins to a network slower than 30 fps on a busy machine, never the whole clip).
        assert seqs and seqs[0] == 0 and seqs[-1] == REALSHORT_FRAMES - 1, seqs
        assert published >= 5 and len(seqs) == published, (published, seqs)
    finally:
        daemon.kill()


def test_a_file_that_never_decodes_exits_78_with_one_line(spawn, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 64)
    daemon = spawn(source=junk)
    t0 = time.monotonic()
    rc = daemon.wait_exit(30.0)
    assert rc == 78, daemon.log
    assert time.monotonic() - t0 < 20.0
    errors = [line for line in daemon.lines() if "ERROR" in line]
    assert len(errors) == 1 and "junk.mp4" in errors[0] and "Invalid data" in errors[0], daemon.log
    assert "Traceback" not in daemon.log and "retry in" not in daemon.log
