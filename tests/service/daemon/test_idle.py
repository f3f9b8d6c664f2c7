"""daemon.pause_when_idle: with nobody subscribed or watching, inference pauses (frames are skipped and counted) and
the daemon still counts as up; a ZeroMQ subscriber or an MJPEG viewer brings frames back at once, leaving pauses
again. SIGINT ends it like SIGTERM does: status 0 within 3 s."""
from __future__ import annotations

import signal
import time

import zmq

from .harness import START_TIMEOUT_S, MjpegReader

WINDOW_S = 1.5
RESUME_LIMIT_S = 1.5  # "frames resume within about a second"


def idle_window(daemon) -> tuple[int, int]:
    """(frames_out delta, skipped_idle delta) over WINDOW_S."""
    s0 = daemon.stats()
    time.sleep(WINDOW_S)  # a measurement window
    s1 = daemon.stats()
    return s1["frames_out"] - s0["frames_out"], s1["skipped_idle"] - s0["skipped_idle"]


def test_pause_when_idle_pauses_resumes_and_pauses_again(spawn, notify, capsys):
    daemon = spawn("--set", "daemon.pause_when_idle=true", "--set", "source.loop=true",
                   "--set", "daemon.stall_s=1", env={"NOTIFY_SOCKET": notify.path})
    daemon.wait_for(lambda: (daemon.stats_or_none() or {}).get("skipped_idle", 0) >= 5, START_TIMEOUT_S,
                    "frames skipped while idle")

    inferred, skipped = idle_window(daemon)
    assert inferred <= 1 and skipped >= 10, (inferred, skipped)
    # Paused for lack of an audience is not a fault: systemd must see the service ready, and /healthz up, even
    # past daemon.stall_s (1 s here) without a depth frame.
    daemon.wait_for(lambda: "READY=1" in notify.lines(), 5.0, "READY=1 while idle")
    status, _, body = daemon.http("/healthz")
    assert status == 200, body

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"depth")
    t0 = time.monotonic()
    sub.connect(daemon.zmq_endpoint)
    try:
        assert sub.poll(int(10 * 1000)), "no depth frame after subscribing"
        resume_s = time.monotonic() - t0
        frames0 = daemon.frames_out()
        daemon.wait_for(lambda: daemon.frames_out() >= frames0 + 10, 5.0, "frames flowing while subscribed")
    finally:
        sub.close(0)
        ctx.term()

    time.sleep(1.0)  # the publisher hears the unsubscription on its next tick; let the last frame through
    inferred, skipped = idle_window(daemon)
    assert inferred <= 1 and skipped >= 10, (inferred, skipped)

    reader = MjpegReader(daemon.http_port)  # a viewer is an audience too
    try:
        t0 = time.monotonic()
        while True:  # a "no signal" part may come first: the stream was paused
            headers, _ = reader.part()
            if "x-seq" in headers:
                break
            assert time.monotonic() - t0 < 5.0, "no depth frame for an MJPEG viewer"
    finally:
        reader.close()

    rc, elapsed = daemon.stop(signal.SIGINT)
    with capsys.disabled():
        print(f"\n[idle] resume after subscribing {resume_s:.2f} s; SIGINT -> exit {rc} in {elapsed:.2f} s")
    assert resume_s < RESUME_LIMIT_S, f"frames resumed after {resume_s:.2f} s"
    assert rc == 0, daemon.log
    assert elapsed < 3.0, f"took {elapsed:.2f} s to stop"
