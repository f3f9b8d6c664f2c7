"""The daemon under a stand-in for systemd: a real NOTIFY_SOCKET gets READY=1 only once depth flows, then WATCHDOG=1
pings and STATUS= lines while it does, and STOPPING=1 on SIGTERM, which ends it with status 0 within 3 s.

The same daemon publishes its depth topic as float16 (zmq.depth_dtype), which needs a daemon of its own anyway.
"""
from __future__ import annotations

import re
import signal
import time

import numpy as np

from streamer.client.subscriber import DepthSubscriber

from .harness import START_TIMEOUT_S, wait_until

NET_SHAPE = (192, 256)
STATUS_FPS = re.compile(r"^STATUS=live; (\d+(?:\.\d+)?) fps; latency p50 [\d.]+ ms; dropped \d+; "
                        r"(?:fp32|bf16|int8)\b.*$")


def test_sd_notify_ready_watchdog_status_stopping(spawn, notify, capsys):
    frames_at_ready: list[object] = []
    holder: list = []

    def on_message(text: str) -> None:
        # Runs the moment READY=1 arrives: how many depth frames were out by then?
        if "READY=1" in text.split("\n") and not frames_at_ready:
            try:
                frames_at_ready.append(holder[0].frames_out())
            except Exception as exc:  # e.g. HTTP not answering yet: reported below
                frames_at_ready.append(exc)

    notify.on_message = on_message
    daemon = spawn("--set", 'zmq.depth_dtype="float16"',
                   env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}, drop_env=("WATCHDOG_PID",))
    holder.append(daemon)
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth",)) as sub:
        daemon.wait_for(lambda: "READY=1" in notify.lines(), START_TIMEOUT_S, "READY=1")
        t_ready = time.monotonic()
        assert frames_at_ready and isinstance(frames_at_ready[0], int), frames_at_ready
        assert frames_at_ready[0] >= 1, "READY=1 before any depth frame was published"

        msg = None
        while msg is None:
            assert time.monotonic() - t_ready < 10, "no depth frame on ZeroMQ after READY=1"
            msg = sub.recv(timeout=1.0)
        _topic, header, depth = msg
        assert header["dtype"] == "float16" and header["shape"] == list(NET_SHAPE)
        assert depth.dtype == np.float16 and depth.shape == NET_SHAPE
        assert depth.nbytes == NET_SHAPE[0] * NET_SHAPE[1] * 2
        assert np.isfinite(depth).all()

    # WATCHDOG_USEC=2 s: a ping every second while frames flow.
    frames0 = daemon.frames_out()
    daemon.wait_for(lambda: notify.lines(since=t_ready).count("WATCHDOG=1") >= 2, 5.0, "two WATCHDOG=1 pings")
    assert daemon.frames_out() > frames0

    def status_fps() -> list[float]:
        return [float(m.group(1)) for line in notify.lines() if (m := STATUS_FPS.match(line))]
    daemon.wait_for(lambda: any(fps > 0 for fps in status_fps()), 8.0, "a STATUS= line with fps > 0")
    statuses = [line for line in notify.lines() if line.startswith("STATUS=")]
    assert all(re.search(r" [\d.]+ fps; latency p50 ", line) for line in statuses), statuses

    rc, elapsed = daemon.stop(signal.SIGTERM)
    with capsys.disabled():
        print(f"\n[systemd] READY at frames_out={frames_at_ready[0]}; STATUS fps {status_fps()}; "
              f"SIGTERM -> exit {rc} in {elapsed:.2f} s")
    assert rc == 0, daemon.log
    assert elapsed < 3.0, f"took {elapsed:.2f} s to stop"
    wait_until(lambda: "STOPPING=1" in notify.lines(), 2.0, "STOPPING=1")
    assert notify.lines().count("READY=1") == 1
