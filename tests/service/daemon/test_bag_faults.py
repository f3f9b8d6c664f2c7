"""Broken bags as the daemon's source (issue 26 B7, B8, B11): a real daemon on real damaged bags.

A bag that cannot be read past a point (torn sqlite3 pages) or whose first message is garbage ends the daemon the way
a broken file does: one line naming the bag, the topic and the message, exit 78 (systemd does not restart it), no
traceback, no endless replay. A 20000 x 20000 PNG in a CompressedImage is refused from its header: the daemon's
memory stays under 1 GB and the bag plays to its end.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin

from streamer.errors import EXIT_CONFIG

from .harness import DaemonProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sources"))
from test_bag import T0, TS, write_bag  # noqa: E402 -- the bag writers of the source tests
from test_bag_faults import bag_of, corrupt_middle, good, png_bomb  # noqa: E402


def peak_rss_mb(daemon: DaemonProcess) -> float:
    """The process's high-water mark of resident memory (VmHWM), while it lives."""
    try:
        text = Path(f"/proc/{daemon.pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def test_unreadable_bags_end_the_daemon_once_with_exit_78(daemon_cache, tmp_path):
    torn = corrupt_middle(write_bag(tmp_path / "torn", "bgr8", count=20, storage=StoragePlugin.SQLITE3))
    garbage = bag_of(tmp_path / "garbage", [np.random.default_rng(1).integers(0, 256, 600, np.uint8).tobytes(),
                                            good(1)])
    for bag, topic, where in ((torn, "/camera/image_raw", "cannot read past message"), (garbage, "/cam", "message 1")):
        daemon = DaemonProcess(cache=daemon_cache, source=f"bag://{bag}?topic={topic}").start()
        try:
            rc = daemon.wait_exit(120)
            assert rc == EXIT_CONFIG, (rc, daemon.log_tail())
            errors = [line for line in daemon.lines() if " ERROR " in line]
            assert len(errors) == 1 and str(bag) in errors[0] and topic in errors[0] and where in errors[0], errors
            assert "Traceback" not in daemon.log and "retry in" not in daemon.log, daemon.log_tail()
        finally:
            daemon.kill()


def test_a_png_bomb_in_a_bag_costs_no_memory_and_the_bag_plays_on(daemon_cache, tmp_path):
    header = TS.types["std_msgs/msg/Header"](stamp=TS.types["builtin_interfaces/msg/Time"](sec=int(T0), nanosec=0),
                                             frame_id="cam")
    bomb = TS.serialize_cdr(TS.types["sensor_msgs/msg/CompressedImage"](
        header=header, format="png", data=np.frombuffer(png_bomb(20000, 20000), np.uint8)),
        "sensor_msgs/msg/CompressedImage")
    assert len(bomb) < 500_000  # ~390 kB that would decode to 1.2 GB of BGR
    bag = bag_of(tmp_path / "bomb", [good(0, "jpeg"), bomb, good(2, "jpeg")], "sensor_msgs/msg/CompressedImage")
    daemon = DaemonProcess(cache=daemon_cache, source=f"bag://{bag}?topic=/cam").start()
    try:
        peak = 0.0
        deadline = time.monotonic() + 120
        while daemon.alive() and time.monotonic() < deadline:
            peak = max(peak, peak_rss_mb(daemon))
            time.sleep(0.1)
        assert daemon.wait_exit(5) == 0, daemon.log_tail()
        assert peak < 1024, f"peak RSS {peak:.0f} MB"
        assert "20000x20000 PNG image is over [source] max_pixels" in daemon.log
        assert "Traceback" not in daemon.log and "after 2 depth frames" in daemon.log, daemon.log_tail()
    finally:
        daemon.kill()
